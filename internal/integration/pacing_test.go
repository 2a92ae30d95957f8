// Package integration_test holds the tests that cross stages: the pool
// against the simulator (pacing, self-sizing) and the pool with the progress
// bar. They take seconds each and depend on no stage's internals.
package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// logLines collects JSON log lines written from several goroutines.
type logLines struct{ testutil.LockedBuffer }

// rates returns the "rate" field of every line whose message starts with
// prefix.
func (l *logLines) rates(t testing.TB, prefix string) []float64 {
	t.Helper()
	var out []float64
	for _, line := range bytes.Split(l.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev struct {
			Message string  `json:"message"`
			Rate    float64 `json:"rate"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasPrefix(ev.Message, prefix) {
			out = append(out, ev.Rate)
		}
	}
	return out
}

// concurrencyMeter wraps a handler and records the most requests it held
// at once.
type concurrencyMeter struct {
	next       http.Handler
	now, peak  atomic.Int64
	underlying *sim.Server
}

func (m *concurrencyMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := m.now.Add(1)
	defer m.now.Add(-1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	m.next.ServeHTTP(w, r)
}

// startSim serves a simulator on loopback behind a concurrency meter.
func startSim(t testing.TB, cfg sim.Config) (*concurrencyMeter, revoke.Revoker) {
	t.Helper()
	s := sim.New(cfg)
	m := &concurrencyMeter{next: s, underlying: s}
	srv := httptest.NewServer(m)
	t.Cleanup(func() { s.Close(); srv.Close() })
	base, err := concur.CheckBaseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// An idle pool as large as a self-sizing pool can grow, as the CLI has.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: revoke.MaxAutoConcurrency, MaxIdleConnsPerHost: revoke.MaxAutoConcurrency}}
	t.Cleanup(hc.CloseIdleConnections)
	client, err := concur.New(concur.Config{BaseURL: base, AdminToken: "admin-token", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return m, client
}

// uniqueRows returns n token rows with distinct tokens.
func uniqueRows(n int) *rows {
	r := &rows{list: make([]input.Row, n)}
	for i := range r.list {
		r.list[i] = input.Row{Line: int64(i + 2), Kind: input.KindToken, Token: fmt.Sprintf("live-token-%07d", i)}
	}
	return r
}

// rows is a revoke.Source over a fixed slice.
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

// limitedRun revokes n rows at --rate ceiling against a server allowing
// limit requests/s, as the issue states the requirement.
type limitedRun struct {
	outcomes []revoke.Outcome
	stats    revoke.Stats
	server   sim.Stats
	logs     *logLines
	elapsed  time.Duration
}

func runAgainstLimit(t testing.TB, n int, ceiling, limit float64) limitedRun {
	t.Helper()
	return runAgainst(t, sim.Config{RateLimit: limit}, n, ceiling, 0)
}

// runAgainst revokes n rows at --rate ceiling (and --concurrency, 0 for a
// self-sizing pool) against a simulator shaped by cfg, answering in 2 ms.
func runAgainst(t testing.TB, cfg sim.Config, n int, ceiling float64, concurrency int) limitedRun {
	t.Helper()
	cfg.Live, cfg.Latency, cfg.Seed = true, 2*time.Millisecond, 1
	meter, client := startSim(t, cfg)
	logs := &logLines{}
	pool := revoke.New(revoke.Config{
		Revoker:     client,
		Rate:        ceiling,
		Concurrency: concurrency,
		Logger:      zerolog.New(logs).Level(zerolog.DebugLevel),
	})
	var run limitedRun
	start := time.Now()
	err := pool.Run(context.Background(), uniqueRows(n), func(o revoke.Outcome) error {
		run.outcomes = append(run.outcomes, o)
		return nil
	})
	run.elapsed = time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	run.stats, run.server, run.logs = pool.Stats(), meter.underlying.Stats(), logs
	return run
}

// allRevoked fails the test unless every one of n rows was revoked.
func (run limitedRun) allRevoked(t *testing.T, n int) {
	t.Helper()
	if len(run.outcomes) != n {
		t.Fatalf("%d outcomes for %d rows", len(run.outcomes), n)
	}
	for _, o := range run.outcomes {
		if o.Status != revoke.Revoked {
			t.Fatalf("line %d ended %s after %d attempts (%s)", o.Line, o.Status, o.Attempts, o.Error)
		}
	}
	if run.server.Revocations != int64(n) || run.stats.Requests != run.server.Requests {
		t.Errorf("server revoked %d of %d, saw %d requests, pool sent %d", run.server.Revocations, n, run.server.Requests, run.stats.Requests)
	}
}

func (run limitedRun) refusedShare() float64 {
	return float64(run.server.ByStatus[http.StatusTooManyRequests]) / max(float64(run.server.Requests), 1)
}

// TestPacingScenarios runs issue 11's scenarios end to end through the
// simulator, asserting what a loaded machine cannot break: every row
// revoked, the ceiling kept, and refusals that a slower client would only
// make fewer. Rates are the benchmark's (go run ./bench) and the fake-clock
// tests' business.
func TestPacingScenarios(t *testing.T) {
	t.Parallel()
	const paused = "rate lowered and every worker paused"
	cases := []struct {
		name        string
		cfg         sim.Config
		rows        int
		ceiling     float64
		concurrency int
		check       func(t *testing.T, run limitedRun)
	}{
		{"3% random 429s at --rate 500 --concurrency 32", sim.Config{RandomThrottle: 0.03}, 1500, 500, 32, func(t *testing.T, run limitedRun) {
			if n := len(run.logs.rates(t, paused)); n != 0 {
				t.Errorf("random 429s paused every worker %d times", n)
			}
			// Rounds a slow machine cannot fill leave the rate alone; only
			// a round over the limit lowers it, and noise is not one (a
			// rare false alarm costs 5 to 8%).
			if run.stats.Rate < 0.8*500 {
				t.Errorf("rate %v at the end, want ≥ 80%% of --rate 500", run.stats.Rate)
			}
			if run.stats.Throttled == 0 {
				t.Error("no 429 at all: the test proves nothing")
			}
		}},
		// Refused shares under a moving limit or a quota depend on how many
		// requests are in flight when it bites, which a loaded machine
		// raises: the fake-clock tests assert them, these only report.
		{"limit 100/s rising to 400/s", sim.Config{RateLimit: 100, RateLimitLater: 400, LimitChangesAfter: 2 * time.Second}, 1500, 1000, 0, nil},
		{"limit 400/s falling to 100/s", sim.Config{RateLimit: 400, RateLimitLater: 100, LimitChangesAfter: 2 * time.Second}, 1200, 1000, 0, nil},
		{"fixed window of 300 per 2 s", sim.Config{WindowQuota: 300, Window: 2 * time.Second}, 900, 1000, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := runAgainst(t, tc.cfg, tc.rows, tc.ceiling, tc.concurrency)
			run.allRevoked(t, tc.rows)
			for _, r := range append(run.logs.rates(t, "rate lowered"), run.logs.rates(t, "rate raised")...) {
				if r > tc.ceiling || r <= 0 {
					t.Errorf("rate set to %v, outside (0, %v]", r, tc.ceiling)
				}
			}
			if tc.check != nil {
				tc.check(t, run)
			}
			t.Logf("%.0f rows/s, %d requests, %.1f%% refused, final rate %.0f", float64(tc.rows)/run.elapsed.Seconds(),
				run.server.Requests, 100*run.refusedShare(), run.stats.Rate)
		})
	}
}

func TestPacingFindsTheServersLimit(t *testing.T) {
	t.Parallel()
	// 100/s is a limit any machine reaches at 4x, even loaded; one that
	// does not reach it says so and skips, rather than fail for its speed.
	const rows, ceiling, limit = 1000, 400.0, 100.0
	run := runAgainstLimit(t, rows, ceiling, limit)
	if run.server.ByStatus[http.StatusTooManyRequests] == 0 && float64(rows)/run.elapsed.Seconds() < limit {
		t.Skipf("this machine sent %.0f rows/s, under the limit of %v/s: nothing to adapt to", float64(rows)/run.elapsed.Seconds(), limit)
	}

	if len(run.outcomes) != rows {
		t.Fatalf("%d outcomes for %d rows", len(run.outcomes), rows)
	}
	for _, o := range run.outcomes {
		if o.Status != revoke.Revoked {
			t.Fatalf("line %d ended %s after %d attempts (%s)", o.Line, o.Status, o.Attempts, o.Error)
		}
	}
	// The refused share depends on timing, which a loaded machine skews:
	// TestPacerScenarios holds the 5% target on a fake clock, and the bench
	// measures it. Here only what load cannot break: a pacer that never
	// slowed down would see about 75% of its requests refused at 4x the
	// limit, so a third is far beyond any adapting pacer.
	refused := run.server.ByStatus[http.StatusTooManyRequests]
	if share := float64(refused) / float64(run.server.Requests); share > 1.0/3 {
		t.Errorf("%d of %d requests refused (%.1f%%), want at most a third", refused, run.server.Requests, 100*share)
	}
	if refused == 0 || run.stats.Throttled != refused {
		t.Errorf("server refused %d, pool counted %d throttled", refused, run.stats.Throttled)
	}
	if run.server.Revocations != rows || run.stats.Requests != run.server.Requests {
		t.Errorf("server revoked %d of %d, saw %d requests, pool sent %d", run.server.Revocations, rows, run.server.Requests, run.stats.Requests)
	}
	lowered := run.logs.rates(t, "rate lowered")
	if len(lowered) == 0 {
		t.Fatal("the rate never came down")
	}
	for _, r := range append(lowered, run.logs.rates(t, "rate raised")...) {
		if r > ceiling || r <= 0 {
			t.Errorf("rate set to %v, outside (0, %v]", r, ceiling)
		}
	}
	if run.stats.Rate >= ceiling || run.stats.Rate <= 0 {
		t.Errorf("final rate %v, want below the ceiling %v", run.stats.Rate, ceiling)
	}
	// Timing, so reported rather than asserted: the requirement is 85%.
	goodput := float64(rows) / run.elapsed.Seconds()
	t.Logf("goodput %.0f rows/s (%.0f%% of %v), %d of %d requests refused (%.1f%%), final rate %.0f, rate lowered %d times",
		goodput, 100*goodput/limit, limit, refused, run.server.Requests, 100*float64(refused)/float64(run.server.Requests), run.stats.Rate, len(lowered))
}

func TestPoolSizesItselfForLatency(t *testing.T) {
	t.Parallel()
	const rows, rate, latency = 300, 100.0, 200 * time.Millisecond
	cases := []struct {
		name        string
		concurrency int
		// check judges the most requests the server held at once.
		check func(t *testing.T, serverPeak int64, st revoke.Stats)
	}{
		{"self-sizing grows past 16", 0, func(t *testing.T, serverPeak int64, st revoke.Stats) {
			// 100/s at 200ms needs 20 in flight; the pool sizes for 1.5x.
			if serverPeak <= 16 {
				t.Errorf("server saw at most %d requests at once, want more than 16", serverPeak)
			}
			if want := revoke.InFlightFor(rate, latency); st.InFlightLimit < want {
				t.Errorf("in-flight limit %d, want at least %d", st.InFlightLimit, want)
			}
		}},
		{"a given concurrency is kept", 16, func(t *testing.T, serverPeak int64, st revoke.Stats) {
			if serverPeak > 16 || st.PeakInFlight > 16 || st.InFlightLimit != 16 {
				t.Errorf("server peak %d, pool peak %d, limit %d: want at most 16", serverPeak, st.PeakInFlight, st.InFlightLimit)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			meter, client := startSim(t, sim.Config{Latency: latency, Live: true})
			pool := revoke.New(revoke.Config{Revoker: client, Rate: rate, Concurrency: tc.concurrency})
			var revoked int
			start := time.Now()
			err := pool.Run(context.Background(), uniqueRows(rows), func(o revoke.Outcome) error {
				if o.Status == revoke.Revoked {
					revoked++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if revoked != rows {
				t.Errorf("%d of %d rows revoked", revoked, rows)
			}
			st := pool.Stats()
			tc.check(t, meter.peak.Load(), st)
			t.Logf("%.0f rows/s, server peak in flight %d, pool limit %d", float64(rows)/time.Since(start).Seconds(), meter.peak.Load(), st.InFlightLimit)
		})
	}
}
