package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// setupTimeout bounds starting the cluster plus the caller's setup.
const setupTimeout = 3 * time.Minute

// Main runs a package's tests against one shared database, for use in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, setup)) }
//
// It starts a database, runs setup (bootstrap, migrations, storing c for the tests), runs the
// tests and cleans up, returning the exit code. A throwaway cluster is also removed when a test
// panics or the process is killed (see the reaper in server.go).
func Main(m *testing.M, setup func(ctx context.Context, c *Cluster) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	c, err := Start(ctx)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if setup != nil {
		err = setup(ctx, c)
	}
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: setup: %v\n", err)
		return 1
	}
	return m.Run()
}

// New starts a database for one test (or benchmark) and closes it when the test ends. Prefer
// Main's shared database; New is for tests that stop the server or otherwise disturb it.
func New(tb testing.TB) *Cluster {
	tb.Helper()
	return NewWith(tb, Options{})
}

// NewWith is New with options (see StartWith); an error fails the test.
func NewWith(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := StartWith(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}
