package pgtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// binaries are the server programs a throwaway cluster needs.
type binaries struct {
	initdb, pgctl, postgres string
}

// findBinaries looks on PATH first, then in the newest /usr/lib/postgresql/<version>/bin
// (Debian and Ubuntu keep the server programs off PATH).
func findBinaries() (binaries, error) {
	if b, ok := binariesOnPath(); ok {
		return b, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		b := binaries{
			initdb:   filepath.Join(dir, "initdb"),
			pgctl:    filepath.Join(dir, "pg_ctl"),
			postgres: filepath.Join(dir, "postgres"),
		}
		if isExecutable(b.initdb) && isExecutable(b.pgctl) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, errors.New("pgtest: initdb, pg_ctl and postgres not found on PATH or in /usr/lib/postgresql/*/bin; " +
		"install the PostgreSQL server or set " + EnvDatabaseURL)
}

func binariesOnPath() (binaries, bool) {
	var b binaries
	var err error
	if b.initdb, err = exec.LookPath("initdb"); err != nil {
		return b, false
	}
	if b.pgctl, err = exec.LookPath("pg_ctl"); err != nil {
		return b, false
	}
	if b.postgres, err = exec.LookPath("postgres"); err != nil {
		return b, false
	}
	return b, true
}

// versionOf reads the major version from /usr/lib/postgresql/<version>/bin.
func versionOf(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return 0
	}
	return v
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}
