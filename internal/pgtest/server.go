package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	startTries   = 3
)

// server is a throwaway cluster in a temporary folder, owned by this process.
type server struct {
	dir     string // temporary folder holding everything below
	dataDir string
	sockDir string
	logFile string
	port    int
	bin     binaries
	runAs   string            // "postgres" when this process is root: PostgreSQL refuses to run as root
	extra   map[string]string // Options.Settings

	reaper     *exec.Cmd
	reaperPipe io.WriteCloser
}

// newServer initialises a cluster with the extra settings and starts it on a free port.
func newServer(ctx context.Context, settings map[string]string) (*server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin, extra: settings}
	if os.Geteuid() == 0 {
		s.runAs = "postgres"
	}
	if err := s.makeDir(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		return nil, errors.Join(err, s.destroy())
	}
	if err := s.startOnFreePort(ctx); err != nil {
		return nil, errors.Join(err, s.destroy())
	}
	s.startReaper()
	return s, nil
}

// makeDir creates the temporary folder and, as root, hands it to the postgres user.
func (s *server) makeDir() error {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return fmt.Errorf("pgtest: temp folder: %w", err)
	}
	s.dir = dir
	s.dataDir = filepath.Join(dir, "data")
	s.sockDir = filepath.Join(dir, "sock")
	s.logFile = filepath.Join(dir, "postgres.log")
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: socket folder: %w", err)
	}
	if s.runAs == "" {
		return nil
	}
	return s.giveToRunAs()
}

func (s *server) giveToRunAs() error {
	u, err := user.Lookup(s.runAs)
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs a %q user to run PostgreSQL: %w", s.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range []string{s.dir, s.sockDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w", p, err)
		}
	}
	return makeTraversable(filepath.Dir(s.dir))
}

// makeTraversable lets other users pass through dir and its parents (o+x), which the postgres
// user needs to reach a folder under, say, a root-only TMPDIR.
func makeTraversable(dir string) error {
	for {
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pgtest: stat %s: %w", dir, err)
		}
		if mode := info.Mode().Perm(); mode&0o001 == 0 {
			if err := os.Chmod(dir, mode|0o001); err != nil {
				return fmt.Errorf("pgtest: make %s traversable: %w", dir, err)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func (s *server) initdb(ctx context.Context) error {
	args := []string{"-D", s.dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"}
	// C.UTF-8 gives Unicode-aware lower/ilike like Supabase; plain C is the fallback where the
	// locale is not installed.
	out, err := s.run(ctx, s.bin.initdb, append(args, "--locale=C.UTF-8")...)
	if err != nil {
		_ = os.RemoveAll(s.dataDir)
		out, err = s.run(ctx, s.bin.initdb, append(args, "--locale=C")...)
	}
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, lastLines(out, 20))
	}
	return s.writeConfig()
}

func (s *server) writeConfig() error {
	conf := fmt.Sprintf(`
# pgtest: a disposable cluster; durability is traded for speed.
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
`, s.sockDir) + settingLines(s.extra)
	f, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: open postgresql.conf: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("pgtest: write postgresql.conf: %w", err)
	}
	return f.Close()
}

// settingNamePattern admits PostgreSQL setting names, custom ones (cron.database_name) included.
var settingNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// checkSettings refuses names that are not setting names and values that would end their line,
// so nothing but those settings gets into the file.
func checkSettings(settings map[string]string) error {
	for name, value := range settings {
		if !settingNamePattern.MatchString(name) {
			return fmt.Errorf("pgtest: %q is not a setting name", name)
		}
		if strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("pgtest: the value of %s spans lines", name)
		}
	}
	return nil
}

// settingLines renders settings as postgresql.conf lines, in name order, values quoted.
func settingLines(settings map[string]string) string {
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		value := strings.NewReplacer(`\`, `\\`, "'", "''").Replace(settings[name])
		fmt.Fprintf(&b, "%s = '%s'\n", name, value)
	}
	return b.String()
}

// startOnFreePort picks a free port and starts the server, trying again with another port when
// someone else took it in between.
func (s *server) startOnFreePort(ctx context.Context) error {
	var err error
	for range startTries {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.start(ctx); err == nil {
			return nil
		}
		if !s.logMentions("could not bind", "already in use") {
			return err
		}
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs pg_ctl start and waits until the server accepts connections.
func (s *server) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	opts := "-p " + strconv.Itoa(s.port)
	out, err := s.run(ctx, s.bin.pgctl, "-D", s.dataDir, "-l", s.logFile, "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %w: %s\n%s", err, lastLines(out, 5), s.logTail())
	}
	return s.waitReady(ctx)
}

func (s *server) waitReady(ctx context.Context) error {
	dsn := s.url("postgres", "", "postgres").String()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: server not ready: %w\n%s", err, s.logTail())
		case <-tick.C:
		}
	}
}

// stop runs pg_ctl stop in the given shutdown mode (fast, immediate).
func (s *server) stop(ctx context.Context, mode string) error {
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	out, err := s.run(ctx, s.bin.pgctl, "-D", s.dataDir, "-m", mode, "-w", "stop")
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w: %s", err, lastLines(out, 5))
	}
	return nil
}

// destroy stops the server at once and deletes its folder.
func (s *server) destroy() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err == nil {
		errs = append(errs, s.stop(context.Background(), "immediate"))
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	s.stopReaper()
	return errors.Join(errs...)
}

// startReaper starts a shell that waits for this process to end, however it ends (a test panic
// or a kill skips deferred cleanup), and then stops the server and deletes the folder. It reads
// a pipe only this process writes to, so it wakes when the pipe closes with the process. It runs
// in its own process group so a Ctrl-C to the test does not kill it first.
func (s *server) startReaper() {
	script := `dir=$0; read _; "$@" >/dev/null 2>&1; rm -rf "$dir"`
	stop := s.command(s.bin.pgctl, "-D", s.dataDir, "-m", "immediate", "-w", "stop")
	cmd := exec.Command("sh", append([]string{"-c", script, s.dir}, stop...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	s.reaper, s.reaperPipe = cmd, pipe
}

func (s *server) stopReaper() {
	if s.reaper == nil {
		return
	}
	s.reaperPipe.Close()
	_ = s.reaper.Wait()
	s.reaper = nil
}

// command is the argv that runs name as the PostgreSQL user.
func (s *server) command(name string, args ...string) []string {
	if s.runAs == "" {
		return append([]string{name}, args...)
	}
	return append([]string{"runuser", "-u", s.runAs, "--", name}, args...)
}

func (s *server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	argv := s.command(name, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *server) url(user, password, db string) *url.URL {
	u := &url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	u.User = url.User(user)
	if password != "" {
		u.User = url.UserPassword(user, password)
	}
	return u
}

func (s *server) logTail() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return ""
	}
	return lastLines(b, 20)
}

func (s *server) logMentions(words ...string) bool {
	log := s.logTail()
	for _, w := range words {
		if strings.Contains(log, w) {
			return true
		}
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
