package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the reportd executable built once for this package.
var binary string

func build() (string, func(), error) {
	dir, err := os.MkdirTemp("", "reportd-e2e-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "reportd")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// proc is a running reportd process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string
	done chan error

	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr, for failure reports and token parsing
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs reportd with exactly env (plus PATH and HOME) and waits until
// it answers /healthz (or, in worker mode, until it logs that it started).
func start(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	port := freePort(t)
	p := &proc{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), fmt.Sprintf("PORT=%d", port)}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done //nolint:errcheck // waiting for the exit; a killed process's status says nothing (staticcheck S1005 refuses `_ =` here)
		if t.Failed() {
			t.Logf("reportd output:\n%s", p.output())
		}
	})
	p.waitReady(env["MODE"] == "worker")
	return p
}

func (p *proc) waitReady(workerOnly bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if workerOnly {
			if strings.Contains(p.output(), `"msg":"worker started"`) {
				return
			}
		} else if resp, err := http.Get(p.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			p.t.Fatalf("reportd exited: %v\n%s", err, p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("reportd did not become ready\n%s", p.output())
}

// signal sends sig and waits for the process to exit, returning its error.
func (p *proc) signal(sig syscall.Signal, timeout time.Duration) error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(timeout):
		p.t.Fatalf("reportd did not exit within %s after %v", timeout, sig)
		return nil
	}
}

// devToken reads the token reportd prints in memory mode.
func (p *proc) devToken() string {
	p.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		if _, tok, ok := strings.Cut(sc.Text(), "export TOKEN="); ok {
			return strings.TrimSpace(tok)
		}
	}
	p.t.Fatalf("no dev token in the output:\n%s", p.output())
	return ""
}
