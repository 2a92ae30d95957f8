package revoke_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// probingRevoker is a fakeRevoker that can probe, and keeps a log of when
// requests start and answers come back.
type probingRevoker struct {
	fakeRevoker
	probe func(n int) revoke.Answer

	probes atomic.Int64
	mu     sync.Mutex
	events []string // "row", "suspect", "probe", "probed", in order
}

var _ revoke.Prober = (*probingRevoker)(nil)

func (p *probingRevoker) note(e string) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *probingRevoker) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	p.note("row")
	a := p.revoke(ctx, row)
	if a.Suspect {
		p.note("suspect")
	}
	return a
}

func (p *probingRevoker) Probe(context.Context) revoke.Answer {
	p.note("probe")
	// Give the other workers every chance to send while the probe is out:
	// a pool that does not hold them would.
	for range 10000 {
		runtime.Gosched()
	}
	a := p.probe(int(p.probes.Add(1)))
	p.note("probed")
	return a
}

// rowsSentDuringDoubt counts the row requests that started after the first
// suspect answer came back and before the last probe's answer.
func (p *probingRevoker) rowsSentDuringDoubt() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	first, last := -1, -1
	for i, e := range p.events {
		if e == "suspect" && first < 0 {
			first = i
		}
		if e == "probed" {
			last = i
		}
	}
	n := 0
	for i := first + 1; first >= 0 && i < last; i++ {
		if p.events[i] == "row" {
			n++
		}
	}
	return n
}

var (
	forbidden = revoke.Answer{Status: revoke.Failed, Suspect: true, HTTPStatus: 403, Err: errors.New("Concur answered 403 Forbidden: Access denied.")}
	revoked   = revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	unknown   = revoke.Answer{Status: revoke.NotFound, HTTPStatus: 200, Err: errors.New("Invalid token.")}
	refusedTo = revoke.Answer{Status: revoke.Failed, Suspect: true, HTTPStatus: 403, Err: errors.New("Concur refused the administrator token")}
	busy      = revoke.Answer{Status: revoke.Failed, Retry: true, HTTPStatus: 503, Err: errors.New("Concur answered 503")}
)

// TestPoolOneRowForbidden: a 403 for one row, while the probe shows the
// administrator's token at work, is that row's failure; the run goes on.
func TestPoolOneRowForbidden(t *testing.T) {
	t.Parallel()
	const concurrency = 4
	src := tokenRows(50)
	bad := src.list[18].Token
	rev := &probingRevoker{
		fakeRevoker: fakeRevoker{func(_ context.Context, row input.Row) revoke.Answer {
			if row.Token == bad {
				return forbidden
			}
			return revoked
		}},
		probe: func(int) revoke.Answer { return unknown },
	}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: concurrency}, src)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(got) != 50 {
		t.Fatalf("%d outcomes for 50 rows", len(got))
	}
	for _, o := range got {
		want := revoke.Revoked
		if o.Line == src.list[18].Line {
			want = revoke.Failed
			if o.Attempts != 1 || o.HTTPStatus != 403 || !strings.Contains(o.Error, "Access denied.") {
				t.Errorf("the forbidden row: %+v, want failed after 1 attempt with Concur's message", o)
			}
		}
		if o.Status != want {
			t.Errorf("line %d: %s, want %s (%s)", o.Line, o.Status, want, o.Error)
		}
	}
	st := p.Stats()
	if st.Probes != 1 || rev.probes.Load() != 1 || st.Requests != 51 || st.Unrecorded != 0 {
		t.Errorf("stats %+v, want 51 requests of which 1 probe, none unrecorded", st)
	}
	if n := rev.rowsSentDuringDoubt(); n > concurrency-1 {
		t.Errorf("%d row requests started while the doubt was open, want at most the %d in flight", n, concurrency-1)
	}
}

// TestPoolEveryRequestForbidden: an administrator without the role gets 403
// for everything, the probe included: the run stops at once, nothing is
// recorded, and the rows are left for --resume.
func TestPoolEveryRequestForbidden(t *testing.T) {
	t.Parallel()
	const concurrency = 4
	var rows atomic.Int64
	rev := &probingRevoker{
		fakeRevoker: fakeRevoker{func(context.Context, input.Row) revoke.Answer { rows.Add(1); return forbidden }},
		probe:       func(int) revoke.Answer { return refusedTo },
	}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: concurrency}, tokenRows(1000))
	var fatal *revoke.FatalError
	if !errors.As(err, &fatal) {
		t.Fatalf("err = %v, want a FatalError", err)
	}
	for _, s := range []string{"Access denied.", "a probe", "refused the administrator token"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if len(got) != 0 {
		t.Errorf("%d rows recorded, want none: refused rows are left for --resume", len(got))
	}
	st := p.Stats()
	if rows.Load() > concurrency {
		t.Errorf("%d row requests, want at most the %d in flight", rows.Load(), concurrency)
	}
	if st.Probes < 1 || st.Probes > 2 || st.Requests != rows.Load()+st.Probes || st.Unrecorded != rows.Load() {
		t.Errorf("stats %+v with %d row requests: want 1 or 2 probes, every row request unrecorded", st, rows.Load())
	}
}

// TestPoolSuspectWithoutProber: a provider that cannot probe gets today's
// behaviour: the 403 stops the run.
func TestPoolSuspectWithoutProber(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	rev := &fakeRevoker{func(context.Context, input.Row) revoke.Answer {
		if n.Add(1) == 5 {
			return forbidden
		}
		return revoked
	}}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 2}, tokenRows(100))
	var fatal *revoke.FatalError
	if !errors.As(err, &fatal) || !strings.Contains(err.Error(), "cannot check") {
		t.Fatalf("err = %v, want a FatalError saying the credentials cannot be checked", err)
	}
	if st := p.Stats(); st.Probes != 0 || n.Load() > 5+2 || int64(len(got))+st.Unrecorded != st.Requests {
		t.Errorf("stats %+v, %d requests, %d outcomes", st, n.Load(), len(got))
	}
}

// TestPoolProbeAnswers: only an answer about the probe's token proves the
// credentials; transient failures are retried, anything else stops.
func TestPoolProbeAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		probe      func(n int) revoke.Answer
		accepted   bool
		wantProbes int64
		wantErr    string
	}{
		{"not found", func(int) revoke.Answer { return unknown }, true, 1, ""},
		{"revoked (a server that answers 200 for any token)", func(int) revoke.Answer { return revoked }, true, 1, ""},
		{"503 twice, then not found", func(n int) revoke.Answer {
			if n < 3 {
				return busy
			}
			return unknown
		}, true, 3, ""},
		{"503 every time", func(int) revoke.Answer { return busy }, false, 5, "no clear answer in 5 attempts"},
		{"a 401", func(int) revoke.Answer {
			return revoke.Answer{Status: revoke.Failed, Fatal: true, HTTPStatus: 401, Err: errors.New("Concur rejected the administrator token (401)")}
		}, false, 1, "(401)"},
		{"a surprise: a 400 about the request", func(int) revoke.Answer {
			return revoke.Answer{Status: revoke.Failed, HTTPStatus: 400, Err: errors.New("Missing required parameter")}
		}, false, 1, "does not show them at work"},
		{"no connection", func(int) revoke.Answer {
			return revoke.Answer{Status: revoke.Failed, Retry: true, Unreachable: true, Err: errors.New("connection refused")}
		}, false, 5, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := tokenRows(20)
			bad := src.list[3].Token
			rev := &probingRevoker{
				fakeRevoker: fakeRevoker{func(_ context.Context, row input.Row) revoke.Answer {
					if row.Token == bad {
						return forbidden
					}
					return revoked
				}},
				probe: tc.probe,
			}
			got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 2}, src)
			if st := p.Stats(); st.Probes != tc.wantProbes {
				t.Errorf("%d probes, want %d", st.Probes, tc.wantProbes)
			}
			if tc.accepted {
				if err != nil || len(got) != 20 || got[3].Status != revoke.Failed {
					t.Fatalf("err %v, %d outcomes: want the run to finish with line %d failed", err, len(got), src.list[3].Line)
				}
				return
			}
			var fatal *revoke.FatalError
			if !errors.As(err, &fatal) || fatal.Line != src.list[3].Line || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a FatalError for line %d saying %q", err, src.list[3].Line, tc.wantErr)
			}
			for _, o := range got {
				if o.Line == src.list[3].Line {
					t.Errorf("the refused row was recorded %s: it must be left for --resume", o.Status)
				}
			}
		})
	}
}

// TestPoolStopsWhenUnreachable: when no request ever connects, the first
// row to run out of attempts stops the run, instead of every row being
// retried and failed in turn.
func TestPoolStopsWhenUnreachable(t *testing.T) {
	t.Parallel()
	const concurrency, attempts = 4, 3
	var n atomic.Int64
	rev := &fakeRevoker{func(context.Context, input.Row) revoke.Answer {
		n.Add(1)
		return revoke.Answer{Status: revoke.Failed, Retry: true, Unreachable: true, Err: errors.New("dial tcp 127.0.0.1:9: connect: connection refused")}
	}}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: concurrency, MaxAttempts: attempts}, tokenRows(1000))
	var fatal *revoke.FatalError
	var unreachable *revoke.UnreachableError
	if !errors.As(err, &fatal) || !errors.As(err, &unreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want a FatalError for an unreachable server", err)
	}
	if len(got) != 0 {
		t.Errorf("%d rows recorded; an unreachable server's rows are left for --resume", len(got))
	}
	st := p.Stats()
	if n.Load() > concurrency*attempts || st.Unrecorded != n.Load() {
		t.Errorf("%d requests (%d unrecorded), want at most %d: the rows in flight, each through its attempts", n.Load(), st.Unrecorded, concurrency*attempts)
	}
}

// TestPoolUnreachableWhileOthersAnswer: a connection failure while other
// requests reach the server is the row's transient failure, not a reason to
// stop.
func TestPoolUnreachableWhileOthersAnswer(t *testing.T) {
	t.Parallel()
	t.Run("other rows answered meanwhile", func(t *testing.T) {
		t.Parallel()
		src := tokenRows(40)
		bad := src.list[0].Token
		var answered atomic.Int64
		var badTries atomic.Int64
		rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
			if row.Token != bad {
				answered.Add(1)
				return revoked
			}
			// Each attempt fails only once another request has been
			// answered since the previous one.
			k := badTries.Add(1)
			for answered.Load() < k && ctx.Err() == nil {
				runtime.Gosched()
			}
			return revoke.Answer{Status: revoke.Failed, Retry: true, Unreachable: true, Err: errors.New("connection refused")}
		}}
		got, _, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 4, MaxAttempts: 3}, src)
		if err != nil || len(got) != 40 || got[0].Status != revoke.Failed || got[0].Attempts != 3 {
			t.Fatalf("err %v, %d outcomes, first %+v: want the run to finish with the first row failed after 3 attempts", err, len(got), got[0])
		}
	})
	t.Run("the row's own earlier attempt was answered", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int64
		rev := &fakeRevoker{func(context.Context, input.Row) revoke.Answer {
			if n.Add(1) == 1 {
				return busy
			}
			return revoke.Answer{Status: revoke.Failed, Retry: true, Unreachable: true, Err: errors.New("connection refused")}
		}}
		got, _, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 1, MaxAttempts: 3}, tokenRows(1))
		if err != nil || len(got) != 1 || got[0].Status != revoke.Failed {
			t.Fatalf("err %v, outcomes %+v: want the row failed, the run complete", err, got)
		}
	})
}

// TestProbeCountsInFlight: a probe is a request at the server like any
// other, so Stats.InFlight (what a stopping run says it waits for) counts
// it while it is out, and not once it is back.
func TestProbeCountsInFlight(t *testing.T) {
	t.Parallel()
	var pool *revoke.Pool
	var during atomic.Int64
	during.Store(-1)
	rev := &probingRevoker{
		fakeRevoker: fakeRevoker{func(context.Context, input.Row) revoke.Answer { return forbidden }},
		probe: func(int) revoke.Answer {
			during.Store(int64(pool.Stats().InFlight))
			return unknown
		},
	}
	pool = revoke.New(revoke.Config{Revoker: rev, Concurrency: 1})
	if err := pool.Run(context.Background(), tokenRows(1), func(revoke.Outcome) error { return nil }); err != nil {
		t.Fatalf("run: %v", err)
	}
	// One worker: the row's request is back before the probe goes out.
	if got := during.Load(); got != 1 {
		t.Errorf("in flight during the probe: %d, want 1 (the probe)", got)
	}
	if st := pool.Stats(); st.InFlight != 0 || st.Probes != 1 {
		t.Errorf("stats after the run %+v, want nothing in flight after 1 probe", st)
	}
}
