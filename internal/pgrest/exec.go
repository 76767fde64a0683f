package pgrest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// plan is the one query a request runs. Every plan's SQL returns a single row: the total count
// (NULL unless counted), the number of rows in the page, and the response body as text.
type plan struct {
	sql      string
	args     []any
	readOnly bool
	// singular demands exactly one row; otherwise the transaction is rolled back and the
	// request fails with PGRST116.
	singular bool
	// afterSetup sends the SQL only once the settings statement has run: it names objects that
	// only the request's role may reach (column defaults such as auth.uid()), and a pipelined
	// statement is parsed before the role switch. It costs a round trip.
	afterSetup bool
}

// outcome is the row a plan returns.
type outcome struct {
	total *int64
	count int64
	body  []byte
}

const (
	beginReadOnly  = "begin isolation level read committed read only"
	beginReadWrite = "begin isolation level read committed read write"
	cleanupTimeout = 5 * time.Second
)

// execute runs p as PostgREST does: one transaction with the access mode of the request, one
// statement of transaction-local settings, the query, then COMMIT, or ROLLBACK on error. The
// statements go out as one pipelined batch, so a request costs a single round trip unless the
// result must be checked before committing.
func (g *Gateway) execute(ctx context.Context, a *auth, rq *request, p *plan) (outcome, error) {
	conn, err := g.pool.Acquire(ctx)
	if err != nil {
		return outcome{}, g.acquireError(err)
	}
	defer conn.Release()

	commitInBatch := !p.singular
	b := &pgx.Batch{}
	if p.readOnly {
		b.Queue(beginReadOnly)
	} else {
		b.Queue(beginReadWrite)
	}
	setup, args := g.setup(a, rq)
	b.Queue(setup, args...)
	prelude := b.Len()
	if p.afterSetup {
		if err := execBatch(conn.SendBatch(ctx, b), prelude); err != nil {
			g.abort(conn, err)
			return outcome{}, err
		}
		b, prelude = &pgx.Batch{}, 0
	}
	b.Queue(p.sql, p.args...)
	if commitInBatch {
		b.Queue("commit")
	}
	out, err := runBatch(conn.SendBatch(ctx, b), prelude, commitInBatch)
	if err == nil && !commitInBatch {
		err = finishSingular(ctx, conn, out)
	}
	if err != nil {
		g.abort(conn, err)
		return outcome{}, err
	}
	return out, nil
}

// acquireError answers 503 PGRST000 when no connection can be made, resetting the pool so dead
// connections go with the server, and 504 PGRST003 when waiting for a free one timed out.
func (g *Gateway) acquireError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(http.StatusGatewayTimeout, "PGRST003", "Timed out acquiring connection from connection pool.")
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	g.pool.Reset()
	return newError(http.StatusServiceUnavailable, codeConnection, "Database connection error. Retrying the connection.").
		withDetails(err.Error())
}

// execBatch runs n statements that return no rows.
func execBatch(br pgx.BatchResults, n int) error {
	var err error
	for range n {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	return errors.Join(err, closeErr(br.Close(), err))
}

// runBatch reads a batch of prelude statements (begin, settings), the plan's query and, when
// commit is set, COMMIT.
func runBatch(br pgx.BatchResults, prelude int, commit bool) (outcome, error) {
	var out outcome
	err := func() error {
		for range prelude {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&out.total, &out.count, &out.body); err != nil {
			return err
		}
		if commit {
			_, err := br.Exec()
			return err
		}
		return nil
	}()
	return out, errors.Join(err, closeErr(br.Close(), err))
}

// closeErr keeps Close from repeating the error that stopped reading the batch.
func closeErr(err, first error) error {
	if first != nil {
		return nil
	}
	return err
}

// finishSingular commits only when exactly one row came back: a PATCH or DELETE that asked
// for one object must not change several rows.
func finishSingular(ctx context.Context, conn *pgxpool.Conn, out outcome) error {
	if out.count != 1 {
		return singularError(out.count)
	}
	_, err := conn.Exec(ctx, "commit")
	return err
}

// singularError is PostgREST 12.2's answer when a single object was asked for (v13+ says
// "Cannot coerce the result to a single JSON object").
func singularError(n int64) *apiError {
	return newError(http.StatusNotAcceptable, "PGRST116", "JSON object requested, multiple (or no) rows returned").
		withDetails("The result contains " + strconv.FormatInt(n, 10) + " rows")
}

// abort rolls back what is left of the transaction. When the connection or the server is gone,
// it resets the pool so the other pooled connections, likely dead too, are not tried one by one.
func (g *Gateway) abort(conn *pgxpool.Conn, cause error) {
	pc := conn.Conn().PgConn()
	if !pc.IsClosed() && pc.TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		// A failed rollback closes the connection, which the pool then discards.
		_, _ = conn.Exec(ctx, "rollback")
	}
	if isConnectionLoss(cause) {
		g.pool.Reset()
	}
}

// setup is the settings statement and its arguments for a request.
func (g *Gateway) setup(a *auth, rq *request) (string, []any) {
	var names, values []string
	if rs := g.schema.Load().roles[a.role]; rs != nil {
		names, values = rs.names, rs.values
	}
	args := make([]any, 0, 7+2*len(names))
	args = append(args, g.searchPath)
	for i := range names {
		args = append(args, names[i], values[i])
	}
	args = append(args, a.role, string(a.claims), rq.method, rq.path, string(rq.headers), string(rq.cookies))
	return setupSQL(len(names)), args
}
