package stack

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main runs a package's tests against one project, started before them
// and closed after, for use in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(stack.Main(m, &project)) }
func Main(m *testing.M, project **Stack) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s, err := Start(ctx, Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "local Supabase stand-in:", err)
		return 1
	}
	*project = s
	defer func() {
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	return m.Run()
}
