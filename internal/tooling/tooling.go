// Package tooling finds the outside tools some tests drive: Node, and the
// Supabase CLI and supabase-js that `npm ci --prefix tools/node` installs.
// A test whose tool is missing skips with a message saying how to install
// it, unless REPORTD_REQUIRE_TOOLS=1 (set by .ci/run) makes that a failure,
// so CI cannot pass by skipping them.
package tooling

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvRequire names the variable that turns a missing tool into a failure.
const EnvRequire = "REPORTD_REQUIRE_TOOLS"

// Required reports whether missing tools fail tests instead of skipping them.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Missing ends tb because a tool it needs is not there: a skip, or a failure
// under REPORTD_REQUIRE_TOOLS=1.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s (%s=1 requires it)", msg, EnvRequire)
	}
	tb.Skip(msg)
}

// NodeDir is the module's tools/node folder, found by walking up from the
// working directory (a package folder under go test) to go.mod.
func NodeDir(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, "tools", "node")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("tooling: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Node is the node program on PATH.
func Node(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("node")
	if err != nil {
		Missing(tb, "node is not installed: the tests that drive the Supabase CLI and supabase-js did not run")
	}
	return path
}

// SupabaseCLI is the Supabase CLI installed in tools/node (it runs under node).
func SupabaseCLI(tb testing.TB) string {
	tb.Helper()
	Node(tb)
	cli := filepath.Join(NodeDir(tb), "node_modules", ".bin", "supabase")
	if _, err := os.Stat(cli); err != nil {
		Missing(tb, "the Supabase CLI is not installed (run `npm ci --prefix tools/node`): %v", err)
	}
	return cli
}

// SupabaseJS returns node and tools/node when @supabase/supabase-js is
// installed there, for scripts in that folder that import it.
func SupabaseJS(tb testing.TB) (node, dir string) {
	tb.Helper()
	node, dir = Node(tb), NodeDir(tb)
	pkg := filepath.Join(dir, "node_modules", "@supabase", "supabase-js", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		Missing(tb, "@supabase/supabase-js is not installed (run `npm ci --prefix tools/node`): %v", err)
	}
	return node, dir
}
