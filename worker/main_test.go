package worker

import (
	"os"
	"testing"

	"github.com/polaris/reportd/internal/stack"
)

// project is the local Supabase stand-in the "supabase" backend forks.
var project *stack.Stack

func TestMain(m *testing.M) { os.Exit(stack.Main(m, &project)) }
