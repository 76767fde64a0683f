package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// build compiles the reportd binary once per run, so that the capacity
// scenarios measure the real process, wired as it is deployed.
var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func (e *Env) binary() (string, error) {
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "reportbench-")
		if build.err != nil {
			return
		}
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			build.err = fmt.Errorf("find the module: %w", err)
			return
		}
		build.bin = filepath.Join(build.dir, "reportd")
		cmd := exec.Command("go", "build", "-o", build.bin, ".")
		cmd.Dir = strings.TrimSpace(string(root))
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	return build.bin, build.err
}

// Cleanup removes the binary built for the run.
func Cleanup() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// proc is a running reportd process. Its output goes to a file, as it would
// to a log collector; nothing the benchmark measures waits on it.
type proc struct {
	cmd      *exec.Cmd
	URL      string // the API
	Metrics  string // the /metrics URL
	logPath  string
	pprof    string // PPROF_ADDR, when profiles are wanted
	done     chan error
	exitOnce sync.Once
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProc runs reportd with env (plus PATH and HOME, an API port and a
// metrics listener) and waits until it is ready.
func (e *Env) startProc(ctx context.Context, env map[string]string) (*proc, error) {
	bin, err := e.binary()
	if err != nil {
		return nil, err
	}
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp(build.dir, "reportd-*.log")
	if err != nil {
		return nil, err
	}
	p := &proc{URL: "http://" + api, Metrics: "http://" + metrics + "/metrics", logPath: logFile.Name(), done: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ADDR=" + api, "METRICS_ADDR=" + metrics}
	if e.ProfileDir != "" {
		if p.pprof, err = freeAddr(); err != nil {
			return nil, err
		}
		p.cmd.Env = append(p.cmd.Env, "PPROF_ADDR="+p.pprof)
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { p.done <- p.cmd.Wait(); logFile.Close() }()
	if err := p.waitReady(ctx); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *proc) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.Metrics); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("reportd exited: %w\n%s", err, p.tail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("reportd did not become ready\n%s", p.tail(20))
}

// stop ends the process (SIGTERM, then SIGKILL after 30 s).
func (p *proc) stop() {
	p.exitOnce.Do(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		// The exit status is not a figure of the benchmark: the runs check
		// what reportd answered, and its output keeps any failure. (errcheck
		// wants these receives assigned; staticcheck S1005 refuses `_ =`.)
		select {
		case <-p.done: //nolint:errcheck // the status is not a figure (above)
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done //nolint:errcheck // the status is not a figure (above)
		}
	})
}

// tail returns the last n lines of the process's output.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logLevels counts the process's log lines by level so far, and collects
// the distinct messages of its warnings and errors.
func (p *proc) logLevels() (map[string]int, []string) {
	f, err := os.Open(p.logPath)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	out, seen := map[string]int{}, map[string]bool{}
	var msgs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		out[l.Level]++
		if (l.Level == "WARN" || l.Level == "ERROR") && !seen[l.Msg] {
			seen[l.Msg] = true
			msgs = append(msgs, l.Level+": "+l.Msg)
		}
	}
	return out, msgs
}

// rssBytes is the process's resident set size, from /proc.
func (p *proc) rssBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", p.cmd.Process.Pid)
}

// cpuSeconds is the CPU time (user + system) the process has used, from /proc.
func (p *proc) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat: %q", s)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc stat: %q", s)
	}
	return (utime + stime) / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

// scrape reads the process's metrics.
func (p *proc) scrape() (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(p.Metrics)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// gauge is the value of a metric without labels, or of the series with the
// given label value (name=value); NaN-free: 0 when missing.
func gauge(m map[string]*dto.MetricFamily, name string, label ...string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, s := range f.GetMetric() {
		if len(label) == 2 {
			match := false
			for _, l := range s.GetLabel() {
				match = match || (l.GetName() == label[0] && l.GetValue() == label[1])
			}
			if !match {
				continue
			}
		}
		switch {
		case s.Gauge != nil:
			total += s.GetGauge().GetValue()
		case s.Counter != nil:
			total += s.GetCounter().GetValue()
		}
	}
	return total
}

// saveProfiles writes the process's heap and goroutine profiles to dir as
// <name>.heap.pb.gz and <name>.goroutine.txt, when it serves profiles.
func (p *proc) saveProfiles(dir, name string) error {
	if p.pprof == "" {
		return nil
	}
	for file, path := range map[string]string{
		name + ".heap.pb.gz":    "/debug/pprof/heap?gc=1",
		name + ".goroutine.txt": "/debug/pprof/goroutine?debug=1",
	} {
		resp, err := http.Get("http://" + p.pprof + path)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cpuProfile records a CPU profile of the process for d into
// dir/<name>.cpu.pb.gz, when it serves profiles; it returns at once and
// the returned channel yields the outcome when the profile is written.
func (p *proc) cpuProfile(dir, name string, d time.Duration) <-chan error {
	done := make(chan error, 1)
	if p.pprof == "" {
		done <- nil
		return done
	}
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprof, int(d.Seconds())))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".cpu.pb.gz"), b, 0o644)
		}
		done <- err
	}()
	return done
}
