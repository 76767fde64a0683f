package supabase

import (
	"errors"
	"testing"

	"github.com/polaris/reportd/report"
)

// TestTranslate checks what each PostgREST answer becomes for the API's
// callers: the domain kind (which decides the HTTP status) and the public
// message (never PostgreSQL's own text, except for messages our SQL
// functions write for users).
func TestTranslate(t *testing.T) {
	const (
		rejected    = "The database rejected a value in the request"
		unavailable = "The job store is unavailable"
	)
	tests := []struct {
		name   string
		status int
		body   string
		kind   error // nil: no domain kind, the raw *APIError (a server fault)
		public string
	}{
		{"singular read found no row", 406, `{"code":"PGRST116","message":"JSON object requested, multiple (or no) rows returned","details":"The result contains 0 rows"}`, report.ErrNotFound, "Job not found"},
		{"our function: no such job", 404, `{"code":"PT404","message":"job not found"}`, report.ErrNotFound, "Job not found"},
		{"our function: state conflict", 409, `{"code":"PT409","message":"Job is already finished"}`, report.ErrConflict, "Job is already finished"},
		{"unique violation", 409, `{"code":"23505","message":"duplicate key value violates unique constraint \"report_jobs_job_id_key\"","details":"Key (job_id)=(job_1) already exists."}`, report.ErrConflict, "A job with the same id already exists"},
		{"foreign key violation", 409, `{"code":"23503","message":"insert or update on table \"report_jobs\" violates foreign key constraint","details":"Key (summary_id) is not present."}`, report.ErrInvalid, "summary_id does not refer to an existing summary"},
		{"our function: invalid parameter", 400, `{"code":"22023","message":"temperature must be between 0 and 2"}`, report.ErrInvalid, "temperature must be between 0 and 2"},
		{"our function: raise exception", 400, `{"code":"P0001","message":"prompt is required"}`, report.ErrInvalid, "prompt is required"},
		{"bad text representation", 400, `{"code":"22P02","message":"invalid input syntax for type uuid: \"abc\""}`, report.ErrInvalid, rejected},
		{"value too long", 400, `{"code":"22001","message":"value too long for type character varying(64)"}`, report.ErrInvalid, rejected},
		{"check violation", 400, `{"code":"23514","message":"new row violates check constraint \"report_jobs_percent_check\""}`, report.ErrInvalid, rejected},
		{"not null violation", 400, `{"code":"23502","message":"null value in column \"prompt\" violates not-null constraint"}`, report.ErrInvalid, rejected},
		{"expired token", 401, `{"code":"PGRST303","message":"JWT expired"}`, report.ErrUnauthenticated, "The access token was rejected"},
		{"insufficient privilege as anon", 401, `{"code":"42501","message":"permission denied for function claim_report_jobs"}`, report.ErrUnauthenticated, "The access token was rejected"},
		{"insufficient privilege as a user", 403, `{"code":"42501","message":"permission denied for function claim_report_jobs"}`, report.ErrForbidden, "Not allowed"},
		{"row-level security refused a write", 403, `{"code":"42501","message":"new row violates row-level security policy for table \"report_jobs\""}`, report.ErrForbidden, "Not allowed"},
		{"gateway refused the key", 401, `{"message":"Invalid API key"}`, report.ErrUnauthenticated, "The access token was rejected"},
		{"statement timeout", 500, `{"code":"57014","message":"canceling statement due to statement timeout"}`, report.ErrUnavailable, unavailable},
		{"database shutting down", 503, `{"code":"57P01","message":"terminating connection due to administrator command"}`, report.ErrUnavailable, unavailable},
		{"PostgREST cannot reach the database", 503, `{"code":"PGRST001","message":"Database client error. Retrying the connection."}`, report.ErrUnavailable, unavailable},
		{"proxy: bad gateway page", 502, `<html><body>502 Bad Gateway</body></html>`, report.ErrUnavailable, unavailable},
		{"proxy: gateway timeout, no body", 504, ``, report.ErrUnavailable, unavailable},
		{"unknown code", 500, `{"code":"XX000","message":"internal error in pg_catalog"}`, nil, ""},
		{"function missing", 404, `{"code":"PGRST202","message":"Could not find the function public.claim_report_jobs"}`, nil, ""},
		{"non-JSON body on a server error", 500, `Internal Server Error from a proxy`, nil, ""},
	}
	kinds := []error{report.ErrNotFound, report.ErrConflict, report.ErrInvalid, report.ErrUnauthenticated,
		report.ErrForbidden, report.ErrUnavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translate(decodeAPIError(tt.status, []byte(tt.body)))
			for _, k := range kinds {
				if got := errors.Is(err, k); got != errors.Is(tt.kind, k) {
					t.Fatalf("errors.Is(err, %v) = %v for %v; want kind %v", k, got, err, tt.kind)
				}
			}
			var api *APIError
			if !errors.As(err, &api) || api.Status != tt.status {
				t.Fatalf("the cause does not keep the answer's status %d: %#v", tt.status, err)
			}
			var pub *report.Error
			switch {
			case tt.kind == nil && errors.As(err, &pub):
				t.Fatalf("a server fault got a public message: %q", pub.Message)
			case tt.kind != nil && !errors.As(err, &pub):
				t.Fatalf("no public message in %v", err)
			case tt.kind != nil && pub.Message != tt.public:
				t.Fatalf("public message = %q, want %q", pub.Message, tt.public)
			}
		})
	}
}

func TestDecodeAPIError(t *testing.T) {
	e := decodeAPIError(409, []byte(`{"code":"23505","message":"duplicate key","details":["a","b"],"hint":"use another id"}`))
	if e.Status != 409 || e.Code != "23505" || e.Message != "duplicate key" || e.Hint != "use another id" {
		t.Fatalf("decoded %#v", e)
	}
	if d, ok := e.Details.([]any); !ok || len(d) != 2 {
		t.Fatalf("an array of details was lost: %#v", e.Details)
	}
	e = decodeAPIError(502, []byte("<html>Bad Gateway</html>"))
	if e.Status != 502 || e.Code != "" || e.Message != "Bad Gateway" {
		t.Fatalf("a non-JSON answer decoded as %#v", e)
	}
}

// The limits the database applies to every insert (report_jobs_enforce)
// come back as the API's own validation and limit errors: the field, the
// message written for users, too large or not, and when to come back.
func TestTranslateEnforcedLimits(t *testing.T) {
	var v *report.ValidationError
	err := translate(decodeAPIError(413, []byte(`{"code":"PT413","message":"prompt is 20000 characters long; the limit is 10000","details":"prompt"}`)))
	if !errors.As(err, &v) || !v.TooLarge || len(v.Fields) != 1 || v.Fields[0].Field != "prompt" ||
		v.Fields[0].Message != "prompt is 20000 characters long; the limit is 10000" {
		t.Fatalf("PT413: %#v", err)
	}
	err = translate(decodeAPIError(400, []byte(`{"code":"22023","message":"metadata is nested more than 32 levels deep","details":"metadata"}`)))
	if !errors.As(err, &v) || v.TooLarge || v.Fields[0].Field != "metadata" || !errors.Is(err, report.ErrInvalid) {
		t.Fatalf("22023 naming a field: %#v", err)
	}
	var lim *report.LimitError
	err = translate(decodeAPIError(429, []byte(`{"code":"PT429","message":"You have 100 jobs waiting; the limit is 100.","details":"queue","hint":"30"}`)))
	if !errors.As(err, &lim) || lim.RetryAfter.Seconds() != 30 || lim.Message != "You have 100 jobs waiting; the limit is 100." ||
		!errors.Is(err, report.ErrLimited) {
		t.Fatalf("PT429: %#v", err)
	}
}
