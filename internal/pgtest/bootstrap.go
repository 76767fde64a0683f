package pgtest

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
)

//go:embed supabase.sql
var supabaseFS embed.FS

// Bootstrap makes the database at superURL look like a fresh Supabase project: roles anon,
// authenticated, service_role and the LOGIN NOINHERIT authenticator (password "authenticator"),
// schemas auth and extensions, the auth helpers (auth.uid, auth.role, auth.email, auth.jwt), a
// minimal auth.users, Supabase's per-role statement timeouts and pgcrypto when available. It is
// idempotent; the roles are shared by every database on the server.
func Bootstrap(ctx context.Context, superURL string) error {
	return ApplyFiles(ctx, superURL, supabaseFS, []string{"supabase.sql"})
}

// ApplyFiles runs the named SQL files from fsys in order, each in its own transaction, as the
// user in superURL. A failing file is rolled back and its name is in the error; the files before
// it stay applied.
func ApplyFiles(ctx context.Context, superURL string, fsys fs.FS, names []string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	for _, name := range names {
		if err := applyFile(ctx, conn, fsys, name); err != nil {
			return fmt.Errorf("pgtest: apply %s: %w", name, err)
		}
	}
	return nil
}

func applyFile(ctx context.Context, conn *pgx.Conn, fsys fs.FS, name string) error {
	sql, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	// Without arguments pgx uses the simple protocol, which runs a file of many statements.
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Roles are shared by every database of the server, and migrations
		// alter them (ALTER ROLE ... SET): sibling databases migrating at the
		// same time would fail with "tuple concurrently updated". A lock on a
		// shared catalog is server-wide, so files apply one at a time.
		if _, err := tx.Exec(ctx, "lock table pg_catalog.pg_authid in share row exclusive mode"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, string(sql))
		return err
	})
}
