package worker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/polaris/reportd/internal/stack"
)

// project is the local Supabase stand-in the "supabase" backend uses.
var project *stack.Stack

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s, err := stack.Start(ctx, stack.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker tests:", err)
		os.Exit(1)
	}
	project = s
	code := m.Run()
	_ = s.Close()
	os.Exit(code)
}
