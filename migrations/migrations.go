// Package migrations holds the SQL that defines the report_jobs schema, its
// row-level security and its state-transition functions: the source of truth
// the Go code calls. Apply the files in name order (supabase db push does).
package migrations

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files.
func FS() fs.FS { return files }

// Names returns the migration file names in the order they must be applied.
func Names() []string {
	entries, _ := fs.Glob(files, "*.sql") // the pattern is constant and valid
	sort.Strings(entries)
	return entries
}
