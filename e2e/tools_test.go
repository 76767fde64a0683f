package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tests of the JavaScript callers (the Edge Function under Deno, the React
// package) need the tools their folders install with npm ci. Without them
// those tests skip with a message, unless REPORTD_REQUIRE_TOOLS=1 (set by
// .ci/run, which installs them) makes that a failure.

// npmTool finds a command that `npm ci` in dir (relative to the repository)
// installed in its node_modules/.bin.
func npmTool(t *testing.T, dir, name, why string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", dir, "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	missingTool(t, name+" is not installed in "+dir+" (run `npm ci` there): "+why)
	return ""
}

// missingTool skips the test, or fails it when the tools are required.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("REPORTD_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + "; REPORTD_REQUIRE_TOOLS=1 requires it")
	}
	t.Skip(msg)
}

// runTool runs a command in dir and fails the test with its output if it fails.
func runTool(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = filepath.Join("..", dir)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}
