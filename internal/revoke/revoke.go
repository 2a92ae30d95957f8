// Package revoke is the paced worker pool: it takes rows from the input,
// sends each through a Revoker under one shared rate limit with retries, and
// hands every final Outcome to a sink. The rate adapts to the server's
// throttling below a ceiling, and the pool can size itself to reach it.
package revoke

import (
	"context"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

// Status is the final state of one input row.
type Status string

const (
	Revoked   Status = "revoked"
	NotFound  Status = "not_found"
	Failed    Status = "failed"
	Invalid   Status = "invalid"
	Duplicate Status = "duplicate"
	DryRun    Status = "dry_run"
)

// statuses is the status vocabulary, in the order summaries, metrics and
// progress show it: the one list. A status added above goes here, and
// every display, the outcome file's reader and the summary follow.
var statuses = [...]Status{Revoked, NotFound, Failed, Invalid, Duplicate, DryRun}

// NumStatuses is the number of statuses, for arrays indexed by Index.
const NumStatuses = len(statuses)

// Statuses lists every status an outcome file may hold, in the order a
// summary shows them.
func Statuses() []Status { return append([]Status(nil), statuses[:]...) }

// Index is the position of s in Statuses(); ok is false for a string that
// is no status.
func (s Status) Index() (i int, ok bool) {
	for i, known := range statuses {
		if s == known {
			return i, true
		}
	}
	return 0, false
}

// Known reports whether s is one of Statuses().
func (s Status) Known() bool {
	_, ok := s.Index()
	return ok
}

// Unrecognised is what a provider's error says of an answer that is on
// neither of its allow-lists (success shapes, statements that the target is
// gone): such an answer is failed, whatever its status.
const Unrecognised = "unrecognised answer: not counted as revoked"

// Outcome is one line of the outcome file: what happened to one input row.
// It never holds a secret: Target is a fingerprint for token rows. Its json
// tags are the outcome file's columns, in order; package journal owns the
// file's encoding and reading.
type Outcome struct {
	Line          int64      `json:"line"`
	Kind          input.Kind `json:"kind"`
	Target        string     `json:"target"`
	ConsumerKey   string     `json:"consumer_key"`
	Status        Status     `json:"status"`
	HTTPStatus    int        `json:"http_status"`
	Attempts      int        `json:"attempts"`
	Error         string     `json:"error"`
	CorrelationID string     `json:"correlation_id"`
	DurationMS    int64      `json:"duration_ms"`
	// SettledAt is when the final answer arrived (for a row settled without
	// a request, when it was settled), RFC 3339 in UTC to the millisecond:
	// see SettledTime. Kept as text so that both encodings hold the same
	// characters.
	SettledAt string `json:"settled_at"`
	// RunID names the process run that settled the row (every log line of
	// that run carries it too).
	RunID string `json:"run_id"`
}

// SettledLayout is how SettledAt is written: RFC 3339, UTC, milliseconds.
const SettledLayout = "2006-01-02T15:04:05.000Z"

// SettledTime formats t for SettledAt.
func SettledTime(t time.Time) string { return t.UTC().Format(SettledLayout) }

// Answer is a provider's classification of one HTTP request for one row.
type Answer struct {
	// Status is Revoked, NotFound or Failed. It is final unless Retry is set.
	Status Status
	// Retry marks a transient failure (throttling, 5xx, network error,
	// timeout): the pool may send the row again.
	Retry bool
	// Throttled marks a refusal for sending too fast (429, or Concur's
	// "request limit exceeded"); the pool slows every worker down.
	Throttled bool
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Fatal means the administrator's credentials were rejected: no row can
	// succeed, so the run stops.
	Fatal bool
	// Suspect means the answer may be about the administrator's
	// credentials or about this row alone (Concur's 403 says either). It is
	// fatal unless the credentials are shown to still work, by a probe (see
	// Prober) sent after this answer came back; then it is the row's
	// failure, final and not retried.
	Suspect bool
	// Unreachable means no connection could be made: the request never
	// reached the server. When a row runs out of attempts so, and nothing
	// else reached the server meanwhile, the run stops.
	Unreachable bool
	// HTTPStatus is the response status, 0 when no response came.
	HTTPStatus int
	// Err describes what went wrong, for the outcome file and logs. It must
	// never contain a secret.
	Err error
	// CorrelationID is the provider's request ID for support.
	CorrelationID string
}

// Revoker sends one revocation request for one row and classifies the answer.
// It is called once per attempt; retries, pacing and backoff are the pool's.
type Revoker interface {
	Revoke(ctx context.Context, row input.Row) Answer
}

// Prober is a Revoker that can tell whether the administrator's credentials
// still work without touching anything real. The pool asks it after a
// Suspect answer; without it, a Suspect answer is fatal.
type Prober interface {
	// Probe sends one request, authenticated as every row's request is,
	// that cannot revoke anything real (a random token that no one holds),
	// and classifies its answer as Revoke does: Revoked or NotFound mean
	// the credentials were accepted; Fatal or Suspect that they were not.
	Probe(ctx context.Context) Answer
}

// RowChecker is a Revoker (or a provider's settings, for a dry run, which
// has no Revoker) that cannot send some rows the input accepts: an RFC 7009
// endpoint revokes tokens, so a user row means nothing to it. CheckRow says
// why row cannot be sent, or nil; the CLI hands it to CheckRows, so such
// rows are settled as invalid and never sent. Its error goes into the
// outcome file, so it must hold no secret.
type RowChecker interface {
	CheckRow(row input.Row) error
}
