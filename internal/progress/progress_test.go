package progress

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// TestIndexFollowsStatuses keeps the meter's counters in step with the
// statuses the outcome file knows.
func TestIndexFollowsStatuses(t *testing.T) {
	t.Parallel()
	statuses := report.Statuses()
	if len(statuses) != len(Meter{}.counts) {
		t.Fatalf("%d statuses, %d counters", len(statuses), len(Meter{}.counts))
	}
	for i, s := range statuses {
		if got := index(s); got != i {
			t.Errorf("index(%s) = %d, want %d", s, got, i)
		}
	}
	// A status the meter does not know must never swell the revoked count.
	if got, failed := index("revoked?"), index(revoke.Failed); got != failed {
		t.Errorf("index of an unknown status = %d, want failed's %d", got, failed)
	}
}

// clock is a fake clock that moves only when told; safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMeterSnapshot(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		cfg      Config
		add      []revoke.Status
		wantDone int64
		wantRate float64
		wantETA  time.Duration
	}{
		// 3 rows in 2 s: 1.5 rows/s, and 7 left take 4.67 s.
		{"fresh run", Config{Total: 10}, []revoke.Status{revoke.Revoked, revoke.Failed, revoke.Invalid}, 3, 1.5, 5 * time.Second},
		// Only this run's row counts for the rate: 0.5 rows/s, 4 left.
		{"resumed run counts earlier rows as done", Config{Total: 10, Before: map[revoke.Status]int64{revoke.Revoked: 4, revoke.NotFound: 1}},
			[]revoke.Status{revoke.Revoked}, 6, 0.5, 8 * time.Second},
		{"unknown total", Config{Total: -1}, []revoke.Status{revoke.DryRun, revoke.Duplicate}, 2, 1, -1},
		{"nothing settled yet", Config{Total: 10}, nil, 0, 0, -1},
		{"more done than the total", Config{Total: 1}, []revoke.Status{revoke.Revoked, revoke.Revoked}, 2, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			tc.cfg.Now = clk.Now
			m := NewMeter(tc.cfg)
			want := map[revoke.Status]int64{}
			for s, n := range tc.cfg.Before {
				want[s] += n
			}
			for _, s := range tc.add {
				m.Add(revoke.Outcome{Status: s})
				want[s]++
			}
			clk.Advance(2 * time.Second)
			snap := m.Snapshot()
			if snap.Done != tc.wantDone || snap.Total != tc.cfg.Total {
				t.Errorf("done %d of %d, want %d of %d", snap.Done, snap.Total, tc.wantDone, tc.cfg.Total)
			}
			for _, s := range report.Statuses() {
				if snap.Rows[s] != want[s] {
					t.Errorf("%s: %d, want %d", s, snap.Rows[s], want[s])
				}
			}
			if snap.Rate != tc.wantRate || snap.ETA != tc.wantETA || snap.Elapsed != 2*time.Second {
				t.Errorf("rate %v, ETA %v, elapsed %v; want %v, %v, 2s", snap.Rate, snap.ETA, snap.Elapsed, tc.wantRate, tc.wantETA)
			}
		})
	}
}

// TestMeterRateAtStart: no time has passed, so there is no rate to tell.
func TestMeterRateAtStart(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMeter(Config{Total: 10, Now: clk.Now})
	m.Add(revoke.Outcome{Status: revoke.Revoked})
	if snap := m.Snapshot(); snap.Rate != 0 || snap.ETA != -1 || snap.Elapsed != 0 {
		t.Errorf("rate %v, ETA %v, elapsed %v at the start; want 0, -1, 0", snap.Rate, snap.ETA, snap.Elapsed)
	}
}

// TestMeterRateFollowsThePace: the rate is a moving average over the last
// 15 seconds, so it follows a change of pace within that window.
func TestMeterRateFollowsThePace(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMeter(Config{Total: 1000, Now: clk.Now})
	second := func(rows int) Snapshot {
		for range rows {
			m.Add(revoke.Outcome{Status: revoke.Revoked})
		}
		clk.Advance(time.Second)
		return m.Snapshot()
	}
	var snap Snapshot
	for range 30 { // 10 rows/s
		snap = second(10)
	}
	// 700 left at 10 rows/s.
	if snap.Done != 300 || snap.Rate != 10 || snap.ETA != 70*time.Second {
		t.Fatalf("after 30 s at 10 rows/s: done %d, rate %v, ETA %v; want 300, 10, 1m10s", snap.Done, snap.Rate, snap.ETA)
	}
	for range 7 { // stalled: the window still holds 8 busy seconds
		snap = second(0)
	}
	if want := 80.0 / 15; snap.Rate != want || snap.ETA != 131*time.Second {
		t.Errorf("7 s into a stall: rate %v, ETA %v; want %v (80 rows in the last 15 s), 2m11s", snap.Rate, snap.ETA, want)
	}
	for range 8 { // the window now holds the stall only
		snap = second(0)
	}
	if snap.Rate != 0 || snap.ETA != -1 {
		t.Errorf("15 s into a stall: rate %v, ETA %v; want 0 and unknown", snap.Rate, snap.ETA)
	}
	for range 15 { // 4 rows/s
		snap = second(4)
	}
	if snap.Rate != 4 || snap.ETA != 160*time.Second {
		t.Errorf("15 s at 4 rows/s: rate %v, ETA %v; want 4, 2m40s", snap.Rate, snap.ETA)
	}
}

// TestMeterSamplesOncePerSecond: snapshots taken more often than the sample
// interval do not shorten the window.
func TestMeterSamplesOncePerSecond(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMeter(Config{Total: -1, Now: clk.Now})
	for i := range 100 { // 20 s, a snapshot every 200 ms, 1 row each for the first 10 s
		if i < 50 {
			m.Add(revoke.Outcome{Status: revoke.Revoked})
		}
		clk.Advance(200 * time.Millisecond)
		_ = m.Snapshot()
	}
	// The window is 5 s to 20 s, in which rows 26 to 50 settled.
	if snap, want := m.Snapshot(), 25.0/15; snap.Rate != want || snap.Elapsed != 20*time.Second {
		t.Errorf("rate %v, elapsed %v; want %v rows/s (25 rows in the last 15 s), 20 s", snap.Rate, snap.Elapsed, want)
	}
}

// TestMeterRateIgnoresEarlierRuns: rows settled before a resume are done,
// but they were not settled at this run's pace.
func TestMeterRateIgnoresEarlierRuns(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMeter(Config{Total: 1_000_000, Before: map[revoke.Status]int64{revoke.Revoked: 999_000}, Now: clk.Now})
	clk.Advance(5 * time.Second)
	snap := m.Snapshot()
	if snap.Rate != 0 || snap.ETA >= 0 {
		t.Errorf("rate %v, ETA %v before this run settled anything", snap.Rate, snap.ETA)
	}
}

func TestMeterConcurrentAdd(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMeter(Config{Total: 8000, Now: clk.Now})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				m.Add(revoke.Outcome{Status: revoke.Revoked})
				_ = m.Snapshot().Done
			}
		})
	}
	wg.Wait()
	clk.Advance(4 * time.Second)
	if snap := m.Snapshot(); snap.Done != 8000 || snap.Rate != 2000 || snap.ETA != 0 {
		t.Errorf("done %d, rate %v, ETA %v; want 8000, 2000 rows/s, 0", snap.Done, snap.Rate, snap.ETA)
	}
}

func TestLogLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		snap      Snapshot
		wantTotal bool
		wantETA   bool
	}{
		{"total known", Snapshot{Done: 40, Total: 100, Rate: 12.3456, ETA: 5 * time.Second, Requests: 44, Retries: 4,
			Rows: map[revoke.Status]int64{revoke.Revoked: 38, revoke.Failed: 2}}, true, true},
		{"standard input", Snapshot{Done: 40, Total: -1, Rate: 2, ETA: -1,
			Rows: map[revoke.Status]int64{revoke.Revoked: 40}}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			Log(zerolog.New(&b), tc.snap)
			var line struct {
				Message  string           `json:"message"`
				Done     int64            `json:"done"`
				Total    *int64           `json:"input_rows"`
				Rate     float64          `json:"rate"`
				ETA      *int64           `json:"eta_s"`
				Rows     map[string]int64 `json:"done_by_status"`
				Requests int64            `json:"requests"`
			}
			if err := json.Unmarshal(b.Bytes(), &line); err != nil {
				t.Fatalf("not JSON: %v: %s", err, b.Bytes())
			}
			if line.Message != "progress" || line.Done != tc.snap.Done || line.Requests != tc.snap.Requests {
				t.Errorf("line %s", b.Bytes())
			}
			if (line.Total != nil) != tc.wantTotal || (tc.wantTotal && *line.Total != tc.snap.Total) {
				t.Errorf("total in %s, want present=%v", b.Bytes(), tc.wantTotal)
			}
			if (line.ETA != nil) != tc.wantETA || (tc.wantETA && *line.ETA != int64(tc.snap.ETA/time.Second)) {
				t.Errorf("eta_s in %s, want present=%v", b.Bytes(), tc.wantETA)
			}
			if line.Rate != float64(int(tc.snap.Rate*100+0.5))/100 {
				t.Errorf("rate %v, want %v rounded to 2 places", line.Rate, tc.snap.Rate)
			}
			for _, s := range report.Statuses() {
				n, ok := line.Rows[string(s)]
				if !ok || n != tc.snap.Rows[s] {
					t.Errorf("rows.%s = %d (present %v), want %d", s, n, ok, tc.snap.Rows[s])
				}
			}
		})
	}
}

// TestScreenForcedBar draws the bar into a buffer (--progress bar off a
// terminal) while log lines are written, and checks each line arrives whole
// and the bar ends complete.
func TestScreenForcedBar(t *testing.T) {
	t.Parallel()
	var out testutil.LockedBuffer
	screen := NewScreen(&out)
	m := NewMeter(Config{Total: 50})
	screen.ShowBar(m, BarOptions{Force: true})
	logLine := `{"level":"warn","line":%d,"status":"failed","message":"row"}` + "\n"
	for i := range 50 {
		m.Add(revoke.Outcome{Status: revoke.Failed})
		if i%10 == 0 {
			if _, err := screen.Write([]byte(strings.Replace(logLine, "%d", string(rune('0'+i/10)), 1))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	screen.HideBar(true)
	if _, err := screen.Write([]byte("after the bar\n")); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for i := range 5 {
		want := strings.Replace(logLine, "%d", string(rune('0'+i)), 1)
		if !strings.Contains(text, want) {
			t.Errorf("log line %d torn or missing in:\n%q", i, text)
		}
	}
	if !strings.Contains(text, "50/50 rows") || !strings.Contains(text, "failed 50") {
		t.Errorf("bar did not end at 50/50 with 50 failed:\n%q", text)
	}
	if !strings.HasSuffix(text, "after the bar\n") {
		t.Errorf("write after HideBar did not go straight out:\n%q", text)
	}
}

func TestScreenWithoutBar(t *testing.T) {
	t.Parallel()
	var out testutil.LockedBuffer
	screen := NewScreen(&out)
	screen.HideBar(true) // no bar: nothing to hide
	if _, err := screen.Write([]byte("plain\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "plain\n" {
		t.Errorf("got %q", out.String())
	}
}

// TestBarSaysStopping: once the run is asked to stop, the bar says so, and
// no longer promises a time left it will not reach.
func TestBarSaysStopping(t *testing.T) {
	t.Parallel()
	m := NewMeter(Config{Total: 10})
	for range 3 {
		m.Add(revoke.Outcome{Status: revoke.Revoked})
	}
	running := m.Snapshot()
	running.ETA = 7 * time.Second
	if txt := paceText(running); strings.Contains(txt, "stopping") || !strings.Contains(txt, "ETA 7s") {
		t.Errorf("running: %q", txt)
	}
	m.Stop()
	s := m.Snapshot()
	if !s.Stopping {
		t.Fatal("Snapshot.Stopping not set after Stop")
	}
	s.ETA = 7 * time.Second
	if txt := paceText(s); !strings.Contains(txt, "stopping") || strings.Contains(txt, "ETA") {
		t.Errorf("stopping: %q", txt)
	}
}

func TestDoneTextPlural(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    Snapshot
		want string
	}{
		{Snapshot{Done: 1, Total: -1}, "1 row "},
		{Snapshot{Done: 2, Total: -1}, "2 rows "},
		{Snapshot{Done: 1, Total: 3}, "1/3 rows "},
	} {
		if got := doneText(tc.s); got != tc.want {
			t.Errorf("doneText(%d of %d) = %q, want %q", tc.s.Done, tc.s.Total, got, tc.want)
		}
	}
}
