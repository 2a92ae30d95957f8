package revoke_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// fakeRevoker answers with a function, so each test scripts the provider.
type fakeRevoker struct {
	revoke func(ctx context.Context, row input.Row) revoke.Answer
}

var _ revoke.Revoker = (*fakeRevoker)(nil)

func (f *fakeRevoker) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	return f.revoke(ctx, row)
}

// rows is a Source over a fixed slice.
type rows struct {
	list []input.Row
	i    int
}

func (r *rows) Next() (input.Row, error) {
	if r.i >= len(r.list) {
		return input.Row{}, io.EOF
	}
	r.i++
	return r.list[r.i-1], nil
}

// uniqueRows returns n token rows with distinct tokens.
func uniqueRows(n int) *rows {
	r := &rows{list: make([]input.Row, n)}
	for i := range r.list {
		r.list[i] = input.Row{Line: int64(i + 2), Kind: input.KindToken, Token: fmt.Sprintf("live-token-%07d", i)}
	}
	return r
}

func tokenRows(n int) *rows {
	r := &rows{}
	for i := range n {
		r.list = append(r.list, input.Row{Line: int64(i + 2), Kind: input.KindToken, Token: "tok-" + string(rune('a'+i%26)) + time.Duration(i).String()})
	}
	return r
}

// collect runs the pool and returns its outcomes sorted by line.
func collect(t *testing.T, ctx context.Context, cfg revoke.Config, src revoke.Source) ([]revoke.Outcome, *revoke.Pool, error) {
	t.Helper()
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
		cfg.BackoffMax = 5 * time.Millisecond
	}
	p := revoke.New(cfg)
	var got []revoke.Outcome
	err := p.Run(ctx, src, func(o revoke.Outcome) error {
		got = append(got, o)
		return nil
	})
	sort.Slice(got, func(i, j int) bool { return got[i].Line < got[j].Line })
	return got, p, err
}

func TestPoolSettlesEveryRow(t *testing.T) {
	t.Parallel()
	var sent atomic.Int64
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		sent.Add(1)
		if row.Token == "gone" {
			return revoke.Answer{Status: revoke.NotFound, HTTPStatus: 200, Err: errors.New("invalid token")}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200, CorrelationID: "c-" + row.Token}
	}}
	src := &rows{list: []input.Row{
		{Line: 2, Kind: input.KindToken, Token: "a"},
		{Line: 3, Kind: input.KindUser, User: "vicky", ConsumerKey: "app"},
		{Line: 4, Kind: input.KindToken, Token: "a"},
		{Line: 6, Invalid: "neither token nor user given"},
		{Line: 7, Kind: input.KindToken, Token: "gone"},
		{Line: 8, Kind: input.KindUser, User: "vicky", ConsumerKey: "app"},
		{Line: 9, Kind: input.KindUser, User: "vicky", ConsumerKey: "other"},
	}}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 3}, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line     int64
		status   revoke.Status
		attempts int
	}{
		{2, revoke.Revoked, 1}, {3, revoke.Revoked, 1}, {4, revoke.Duplicate, 0}, {6, revoke.Invalid, 0},
		{7, revoke.NotFound, 1}, {8, revoke.Duplicate, 0}, {9, revoke.Revoked, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d outcomes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		o := got[i]
		if o.Line != w.line || o.Status != w.status || o.Attempts != w.attempts {
			t.Errorf("outcome %d = line %d %s attempts %d, want line %d %s attempts %d", i, o.Line, o.Status, o.Attempts, w.line, w.status, w.attempts)
		}
	}
	if got[0].Target != input.Fingerprint("a") || got[0].CorrelationID != "c-a" {
		t.Errorf("token row target/correlation = %q/%q", got[0].Target, got[0].CorrelationID)
	}
	if got[1].Target != "vicky" || got[1].ConsumerKey != "app" {
		t.Errorf("user row target = %q/%q", got[1].Target, got[1].ConsumerKey)
	}
	if got[3].Error == "" || got[4].Error != "invalid token" {
		t.Errorf("errors not carried: invalid %q, not_found %q", got[3].Error, got[4].Error)
	}
	if sent.Load() != 4 || p.Stats().Requests != 4 {
		t.Errorf("sent %d requests (stats %d), want 4", sent.Load(), p.Stats().Requests)
	}
}

func TestPoolRetries(t *testing.T) {
	t.Parallel()
	transient := revoke.Answer{Status: revoke.Failed, Retry: true, HTTPStatus: 503, Err: errors.New("503 maintenance")}
	cases := []struct {
		name         string
		answers      []revoke.Answer // in order; the last repeats
		maxAttempts  int
		wantStatus   revoke.Status
		wantAttempts int
		wantHTTP     int
	}{
		{"first try", []revoke.Answer{{Status: revoke.Revoked, HTTPStatus: 200}}, 5, revoke.Revoked, 1, 200},
		{"after two 503s", []revoke.Answer{transient, transient, {Status: revoke.Revoked, HTTPStatus: 200}}, 5, revoke.Revoked, 3, 200},
		{"out of attempts", []revoke.Answer{transient}, 4, revoke.Failed, 4, 503},
		{"one attempt only", []revoke.Answer{transient}, 1, revoke.Failed, 1, 503},
		{"final failure not retried", []revoke.Answer{{Status: revoke.Failed, HTTPStatus: 404, Err: errors.New("404")}}, 5, revoke.Failed, 1, 404},
		{"retry meets already revoked", []revoke.Answer{transient, {Status: revoke.NotFound, HTTPStatus: 200}}, 5, revoke.NotFound, 2, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
				i := int(n.Add(1)) - 1
				return tc.answers[min(i, len(tc.answers)-1)]
			}}
			got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, MaxAttempts: tc.maxAttempts}, tokenRows(1))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d outcomes", len(got))
			}
			o := got[0]
			if o.Status != tc.wantStatus || o.Attempts != tc.wantAttempts || o.HTTPStatus != tc.wantHTTP {
				t.Errorf("got %s after %d attempts (HTTP %d), want %s after %d (HTTP %d)", o.Status, o.Attempts, o.HTTPStatus, tc.wantStatus, tc.wantAttempts, tc.wantHTTP)
			}
			if int64(o.Attempts) != n.Load() || p.Stats().Requests != n.Load() || p.Stats().Retries != n.Load()-1 {
				t.Errorf("attempts %d, server saw %d, stats %+v", o.Attempts, n.Load(), p.Stats())
			}
			if o.Status == revoke.Failed && o.Error == "" {
				t.Error("failed row has no error")
			}
		})
	}
}

func TestPoolHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		if n.Add(1) == 1 {
			return revoke.Answer{Status: revoke.Failed, Retry: true, Throttled: true, RetryAfter: 300 * time.Millisecond, HTTPStatus: 429}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	start := time.Now()
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev}, tokenRows(1))
	if err != nil {
		t.Fatal(err)
	}
	// A lower bound only: a slow machine can make it longer, never shorter.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("retried after %v, before the server's Retry-After of 300ms", d)
	}
	if got[0].Status != revoke.Revoked || p.Stats().Throttled != 1 {
		t.Errorf("got %+v, stats %+v", got[0], p.Stats())
	}
}

func TestPoolRateCoversRetries(t *testing.T) {
	t.Parallel()
	// 5 rows, each needing 2 requests: 10 requests at 50/s with burst 1
	// cannot take less than 9 intervals of 20ms.
	var n atomic.Int64
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		if n.Add(1)%2 == 1 {
			return revoke.Answer{Status: revoke.Failed, Retry: true, HTTPStatus: 503}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	// Serial, so odd/even requests pair up per row.
	cfg := revoke.Config{Revoker: rev, Concurrency: 1, Rate: 50, Burst: 1, BackoffBase: time.Nanosecond, BackoffMax: time.Nanosecond}
	start := time.Now()
	got, _, err := collect(t, context.Background(), cfg, tokenRows(5))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("10 requests at 50/s took %v: the limiter was bypassed", d)
	}
	if n.Load() != 10 || len(got) != 5 {
		t.Errorf("requests %d, outcomes %d", n.Load(), len(got))
	}
}

func TestPoolStopsOnFatal(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		if n.Add(1) >= 10 {
			return revoke.Answer{Status: revoke.Failed, Fatal: true, HTTPStatus: 401, Err: errors.New("admin token rejected")}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: 4}, tokenRows(1000))
	var fatal *revoke.FatalError
	if !errors.As(err, &fatal) || fatal.Error() != "admin token rejected" {
		t.Fatalf("err = %v, want a FatalError", err)
	}
	// At most the in-flight requests (concurrency) go out after the first 401.
	if sent := n.Load(); sent > 10+4 {
		t.Errorf("%d requests sent; the pool kept going after the 401", sent)
	}
	st := p.Stats()
	if int64(len(got))+st.Unrecorded != st.Requests || st.Requests != n.Load() {
		t.Errorf("outcomes %d + unrecorded %d != requests %d (server %d)", len(got), st.Unrecorded, st.Requests, n.Load())
	}
	for _, o := range got {
		if o.Status != revoke.Revoked {
			t.Errorf("line %d recorded as %s: rows refused for credentials must stay unrecorded", o.Line, o.Status)
		}
	}
}

func TestPoolStopFinishesInFlight(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var started sync.WaitGroup
	started.Add(3)
	release := make(chan struct{})
	var n atomic.Int64
	rev := &fakeRevoker{func(rctx context.Context, row input.Row) revoke.Answer {
		if n.Add(1) <= 3 {
			started.Done()
			<-release
		}
		if rctx.Err() != nil {
			return revoke.Answer{Status: revoke.Failed, Err: rctx.Err()}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	go func() {
		started.Wait()
		cancel() // like SIGTERM with three requests in flight
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	got, p, err := collect(t, ctx, revoke.Config{Revoker: rev, Concurrency: 3}, tokenRows(100))
	if !errors.Is(err, revoke.ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if len(got) != 3 || n.Load() != 3 {
		t.Fatalf("recorded %d rows after %d requests, want the 3 in flight", len(got), n.Load())
	}
	for _, o := range got {
		if o.Status != revoke.Revoked {
			t.Errorf("in-flight line %d ended %s (%s): its request was cancelled", o.Line, o.Status, o.Error)
		}
	}
	if p.Stats().Unrecorded != 0 {
		t.Errorf("unrecorded = %d", p.Stats().Unrecorded)
	}
}

func TestPoolSkipAndDryRun(t *testing.T) {
	t.Parallel()
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		t.Error("dry run sent a request")
		return revoke.Answer{}
	}}
	src := &rows{list: []input.Row{
		{Line: 2, Kind: input.KindToken, Token: "a"},
		{Line: 3, Kind: input.KindToken, Token: "b"},
		{Line: 4, Kind: input.KindToken, Token: "a"},
	}}
	skip := func(r input.Row) bool { return r.Line == 2 }
	got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, DryRun: true, Skip: skip}, src)
	if err != nil {
		t.Fatal(err)
	}
	// Line 2 was recorded before, but still makes line 4 a duplicate.
	if len(got) != 2 || got[0].Line != 3 || got[0].Status != revoke.DryRun || got[1].Status != revoke.Duplicate {
		t.Errorf("got %+v", got)
	}
	if p.Stats().Skipped != 1 {
		t.Errorf("skipped = %d", p.Stats().Skipped)
	}
}

func TestPoolStopsWhenRecordFails(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		n.Add(1)
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	diskFull := errors.New("no space left on device")
	var calls int
	p := revoke.New(revoke.Config{Revoker: rev, Concurrency: 2})
	err := p.Run(context.Background(), tokenRows(1000), func(revoke.Outcome) error {
		calls++
		if calls == 5 {
			return diskFull
		}
		return nil
	})
	if !errors.Is(err, diskFull) {
		t.Fatalf("err = %v, want the record error", err)
	}
	// Bound: the 5 recorded, the outcomes buffered between workers and the
	// recorder (64), those in flight, and a request or two that passed the
	// pacer as the stop came; 1000 rows would all go out if nothing stopped.
	if n.Load() > 100 {
		t.Errorf("%d requests sent after the outcome file failed", n.Load())
	}
	// Requests behind outcomes that could not be recorded are accounted for.
	if st := p.Stats(); int64(calls-1)+st.Unrecorded != st.Requests || st.Requests != n.Load() {
		t.Errorf("recorded %d, unrecorded %d, requests %d (revoker saw %d)", calls-1, st.Unrecorded, st.Requests, n.Load())
	}
}

func TestPoolSendsEachRowOnceWithinItsConcurrency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		concurrency int
		wantAtMost  int64
	}{
		{"fixed 1", 1, 1},
		{"fixed 8", 8, 8},
		{"self-sizing, unpaced", 0, revoke.DefaultConcurrency},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 2000
			var mu sync.Mutex
			sent := map[string]int{}
			var now, peak atomic.Int64
			rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
				c := now.Add(1)
				defer now.Add(-1)
				for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
				}
				mu.Lock()
				sent[row.Token]++
				mu.Unlock()
				if row.Line%7 == 0 {
					time.Sleep(100 * time.Microsecond) // uneven answers reorder the workers
				}
				return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
			}}
			got, p, err := collect(t, context.Background(), revoke.Config{Revoker: rev, Concurrency: tc.concurrency}, tokenRows(n))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n || len(sent) != n {
				t.Fatalf("%d outcomes, %d distinct rows sent, want %d", len(got), len(sent), n)
			}
			for i, o := range got {
				if o.Line != int64(i+2) || o.Status != revoke.Revoked {
					t.Fatalf("outcome %d: line %d %s", i, o.Line, o.Status)
				}
			}
			for tok, k := range sent {
				if k != 1 {
					t.Errorf("%s sent %d times", input.Fingerprint(tok), k)
				}
			}
			if peak.Load() > tc.wantAtMost || int64(p.Stats().PeakInFlight) > tc.wantAtMost {
				t.Errorf("%d requests at once (pool says %d), want at most %d", peak.Load(), p.Stats().PeakInFlight, tc.wantAtMost)
			}
		})
	}
}

// eofSignal is a Source that closes eof when it reaches the end.
type eofSignal struct {
	rows
	eof chan struct{}
}

func (s *eofSignal) Next() (input.Row, error) {
	row, err := s.rows.Next()
	if errors.Is(err, io.EOF) {
		select {
		case <-s.eof:
		default:
			close(s.eof)
		}
	}
	return row, err
}

// TestPoolStopAfterLastRowIsComplete: a signal that lands after every row
// was read and recorded stopped nothing, so the run is complete.
func TestPoolStopAfterLastRowIsComplete(t *testing.T) {
	t.Parallel()
	src := &eofSignal{rows: *tokenRows(3), eof: make(chan struct{})}
	rev := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		<-src.eof // answer only once the feeder has seen the end
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recorded := 0
	p := revoke.New(revoke.Config{Revoker: rev, Concurrency: 3})
	err := p.Run(ctx, src, func(revoke.Outcome) error {
		if recorded++; recorded == 3 {
			cancel() // as a SIGTERM landing at the very end
		}
		return nil
	})
	if err != nil || recorded != 3 {
		t.Errorf("err = %v after %d outcomes, want a complete run", err, recorded)
	}
}
