package revoke

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// clock is a hand-driven time source, so the pacer's control law is tested
// without sleeping.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct{ testutil.LockedBuffer }

// events returns the logged lines whose message is msg.
func (s *syncBuffer) events(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(s.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev["message"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

// testPacer returns a started pacer on a fake clock, logging at debug.
func testPacer(ceiling float64) (*pacer, *clock, *syncBuffer) {
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	p := newPacer(ceiling, 1, 5*time.Minute, zerolog.New(logs).Level(zerolog.DebugLevel))
	p.now = c.now
	p.start()
	return p, c, logs
}

var (
	clean   = Answer{Status: Revoked, HTTPStatus: 200}
	refused = Answer{Status: Failed, Retry: true, Throttled: true, HTTPStatus: 429, RetryAfter: time.Second}
)

// server models, on the fake clock, how a server answers a request that
// reaches it at t.
type server interface {
	answer(t time.Time) Answer
}

// limited is a token bucket with a second's worth of burst, as the
// simulator's RateLimit; from at on, its limit is later (0: no change).
type limited struct {
	lim   *rate.Limiter
	later float64
	at    time.Time
}

func newLimited(limit float64) *limited {
	return &limited{lim: rate.NewLimiter(rate.Limit(limit), int(math.Ceil(limit)))}
}

func (l *limited) answer(t time.Time) Answer {
	if l.later > 0 && !t.Before(l.at) {
		l.lim.SetLimitAt(t, rate.Limit(l.later))
		l.lim.SetBurstAt(t, int(math.Ceil(l.later)))
		l.later = 0
	}
	r := l.lim.ReserveN(t, 1)
	if d := r.DelayFrom(t); d > 0 {
		r.CancelAt(t)
		a := refused
		a.RetryAfter = max(time.Second, d.Round(time.Second))
		return a
	}
	return clean
}

// noisy refuses a share of requests at random, with Retry-After: 1,
// whatever the rate; the others go to next (nil: answered cleanly).
type noisy struct {
	share float64
	rng   *mrand.Rand
	next  server
}

func (n *noisy) answer(t time.Time) Answer {
	if n.share > 0 && n.rng.Float64() < n.share {
		return refused
	}
	if n.next == nil {
		return clean
	}
	return n.next.answer(t)
}

// windowed allows quota requests per fixed window counted from start, and
// refuses the rest until the window's end.
type windowed struct {
	quota int
	width time.Duration
	start time.Time
	w     int64
	used  int
}

func (q *windowed) answer(t time.Time) Answer {
	since := t.Sub(q.start)
	if w := int64(since / q.width); w != q.w {
		q.w, q.used = w, 0
	}
	if q.used >= q.quota {
		a := refused
		a.RetryAfter = (time.Duration(q.w+1)*q.width - since + time.Second - 1).Truncate(time.Second)
		return a
	}
	q.used++
	return clean
}

// tally counts requests by the second they were sent in.
type tally struct {
	sent, clean, refused []int64
	// maxRate is the highest rate the pacer was ever at.
	maxRate float64
}

func (t *tally) add(sec int, a Answer) {
	for len(t.sent) <= sec {
		t.sent, t.clean, t.refused = append(t.sent, 0), append(t.clean, 0), append(t.refused, 0)
	}
	t.sent[sec]++
	switch {
	case a.Throttled:
		t.refused[sec]++
	case !a.Retry:
		t.clean[sec]++
	}
}

// between sums the counts of the requests sent in seconds [from, to).
func (t *tally) between(from, to int) (sent, clean, refused int64) {
	for s := from; s < min(to, len(t.sent)); s++ {
		sent, clean, refused = sent+t.sent[s], clean+t.clean[s], refused+t.refused[s]
	}
	return sent, clean, refused
}

// cleanBy returns when the n-th clean answer's request was sent, to the
// second, or -1.
func (t *tally) cleanBy(n int64) int {
	var sum int64
	for s, c := range t.clean {
		if sum += c; sum >= n {
			return s + 1
		}
	}
	return -1
}

// drive plays the pacer against srv on its fake clock for d: a request goes
// whenever the pacer lets one go (the run has rows to spare), at most
// inFlight at once, each answered latency after it was sent. Pauses are
// obeyed as wait obeys them.
func drive(p *pacer, c *clock, srv server, d, latency time.Duration, inFlight int) *tally {
	const step = 250 * time.Microsecond
	type pending struct {
		due   time.Time
		epoch uint64
		a     Answer
	}
	var queue []pending // answers come back in the order sent: latency is fixed
	t := &tally{}
	start := c.now()
	for c.now().Sub(start) < d {
		now := c.now()
		for len(queue) > 0 && !queue[0].due.After(now) {
			p.answered(queue[0].epoch, queue[0].a, now)
			queue = queue[1:]
		}
		for len(queue) < inFlight && p.paused(now) == 0 {
			r, delay := p.reserve(now)
			if delay > 0 {
				r.CancelAt(now)
				break
			}
			e := p.sendNow()
			a := srv.answer(now)
			t.add(int(now.Sub(start)/time.Second), a)
			queue = append(queue, pending{now.Add(latency), e, a})
		}
		t.maxRate = max(t.maxRate, p.rateNow())
		c.advance(step)
	}
	return t
}

func share(part, whole int64) float64 { return float64(part) / max(float64(whole), 1) }

// TestPacerScenarios plays each row of issue 11's table against a model of
// the server on a fake clock, and checks the rates reached and the share
// refused. Requests, not rows: the run always has a row ready.
func TestPacerScenarios(t *testing.T) {
	t.Parallel()
	const latency = 20 * time.Millisecond
	cases := []struct {
		name     string
		ceiling  float64
		server   func(start time.Time) server
		duration time.Duration
		inFlight int
		check    func(t *testing.T, run *tally, p *pacer)
	}{
		{"limit 250/s at --rate 1000", 1000, func(time.Time) server { return newLimited(250) }, 40 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				sent, _, refusedN := run.between(0, 40)
				_, steady, _ := run.between(5, 40)
				if g := float64(steady) / 35; g < 0.9*250 {
					t.Errorf("goodput %.0f/s after the first 5 s, want ≥ 90%% of 250", g)
				}
				if s := share(refusedN, sent); s > 0.05 {
					t.Errorf("%.1f%% of requests refused, want ≤ 5%%", 100*s)
				}
			}},
		{"no limit, 3% random 429s, --rate 500", 500, func(time.Time) server {
			return &noisy{share: 0.03, rng: mrand.New(mrand.NewPCG(1, 2))}
		}, 40 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				_, cleanN, _ := run.between(0, 40)
				if g := float64(cleanN) / 40; g < 0.85*500 {
					t.Errorf("goodput %.0f/s, want ≥ 85%% of 500", g)
				}
				if !p.pauseEnds.IsZero() {
					t.Errorf("random 429s paused every worker (until %v)", p.pauseEnds)
				}
			}},
		{"limit 250/s plus 2% random 429s", 1000, func(time.Time) server {
			return &noisy{share: 0.02, rng: mrand.New(mrand.NewPCG(3, 4)), next: newLimited(250)}
		}, 40 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				sent, _, refusedN := run.between(0, 40)
				_, steady, _ := run.between(5, 40)
				if g := float64(steady) / 35; g < 0.85*250 {
					t.Errorf("goodput %.0f/s after the first 5 s, want ≥ 85%% of 250", g)
				}
				if s := share(refusedN, sent); s > 0.08 {
					t.Errorf("%.1f%% of requests refused, want ≤ 8%%", 100*s)
				}
			}},
		{"limit 100/s rising to 400/s after 6 s", 1000, func(start time.Time) server {
			l := newLimited(100)
			l.later, l.at = 400, start.Add(6*time.Second)
			return l
		}, 40 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				// 6,000 requests granted: 600 in the first 6 s, then 400/s.
				const n, ideal = 6000, 6 + (6000-600)/400.0
				took := run.cleanBy(n)
				if took < 0 || float64(took) > 1.25*ideal {
					t.Errorf("%d clean answers took %d s, want ≤ 1.25 × the ideal %.1f s", n, took, ideal)
				}
			}},
		{"limit 400/s falling to 100/s after 6 s", 1000, func(start time.Time) server {
			l := newLimited(400)
			l.later, l.at = 100, start.Add(6*time.Second)
			return l
		}, 22 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				sent, _, refusedN := run.between(0, 22)
				if s := share(refusedN, sent); s > 0.10 {
					t.Errorf("%.1f%% of requests refused, want ≤ 10%%", 100*s)
				}
				if _, after, _ := run.between(10, 22); float64(after)/12 < 0.85*100 {
					t.Errorf("goodput %.0f/s after the fall, want ≥ 85%% of 100", float64(after)/12)
				}
			}},
		{"fixed window of 1,000 per 5 s", 1000, func(start time.Time) server {
			return &windowed{quota: 1000, width: 5 * time.Second, start: start}
		}, 40 * time.Second, 64,
			func(t *testing.T, run *tally, p *pacer) {
				sent, cleanN, refusedN := run.between(0, 40)
				if g := float64(cleanN) / 8; g < 0.85*1000 {
					t.Errorf("%.0f clean answers a window, want ≥ 85%% of the quota of 1,000", g)
				}
				t.Logf("%.1f%% refused", 100*share(refusedN, sent))
			}},
		{"--rate 400 at 200 ms latency", 400, func(time.Time) server { return &noisy{} }, 20 * time.Second, InFlightFor(400, 200*time.Millisecond),
			func(t *testing.T, run *tally, p *pacer) {
				if _, cleanN, _ := run.between(1, 20); float64(cleanN)/19 < 0.95*400 {
					t.Errorf("goodput %.0f/s, want ≥ 95%% of 400", float64(cleanN)/19)
				}
				if r, _ := p.rates(); r != 400 {
					t.Errorf("rate %v without a refusal, want the ceiling", r)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, c, logs := testPacer(tc.ceiling)
			lat := latency
			if tc.inFlight > 64 {
				lat = 200 * time.Millisecond
			}
			run := drive(p, c, tc.server(c.now()), tc.duration, lat, tc.inFlight)
			if run.maxRate > tc.ceiling {
				t.Errorf("rate reached %v, above --rate %v", run.maxRate, tc.ceiling)
			}
			tc.check(t, run, p)
			sent, cleanN, refusedN := run.between(0, len(run.sent))
			t.Logf("%d requests, %.0f clean/s, %.1f%% refused; rate now %.0f", sent, float64(cleanN)/tc.duration.Seconds(), 100*share(refusedN, sent), p.rateNow())
			if t.Failed() || testing.Verbose() {
				t.Logf("per second: sent %v\nclean %v\nrefused %v", run.sent, run.clean, run.refused)
				for _, msg := range []string{"rate lowered: the server refused for speed", "rate raised: a probe above it was not refused more",
					"rate lowered and every worker paused: the server refused most requests"} {
					t.Logf("%s: %d", msg, len(logs.events(t, msg)))
				}
			}
		})
	}
}

// paced plays n requests over one second at the pacer's fake clock, each
// answered at once with a, and returns their rounds.
func paced(p *pacer, c *clock, n int, a func(i int) Answer) {
	step := time.Second / time.Duration(n)
	for i := range n {
		c.advance(step)
		p.answered(p.sendNow(), a(i), c.now())
	}
}

func always(a Answer) func(int) Answer { return func(int) Answer { return a } }

func TestPacerOneRefusalIsNotALimit(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(1000)
	// 1,000 requests a second, one refused each second: 0.1%.
	for range 10 {
		paced(p, c, 1000, func(i int) Answer {
			if i == 500 {
				return refused
			}
			return clean
		})
	}
	if r, _ := p.rates(); r != 1000 {
		t.Errorf("rate %v after lone refusals, want the ceiling 1000", r)
	}
	if p.pausedUntil.Load() != 0 || !p.pauseEnds.IsZero() {
		t.Errorf("a lone refusal paused every worker")
	}
}

func TestPacerManyRefusalsPauseEveryWorker(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(1000)
	paced(p, c, 400, always(clean)) // the server granted 400/s for a second
	e := p.sendNow()
	for range heavyScore - 1 {
		p.answered(e, refused, c.now())
	}
	if p.pausedUntil.Load() != 0 {
		t.Fatalf("paused after %d refusals, want %d", heavyScore-1, heavyScore)
	}
	p.answered(e, refused, c.now())
	if d := p.paused(c.now()); d != time.Second {
		t.Errorf("pause of %v, want the server's Retry-After of 1s", d)
	}
	// The server granted 400 in the second before and lets us back in a
	// second later: 200/s over its cycle. The cut lands just under it.
	if r, _ := p.rates(); math.Abs(r-holdShare*200) > 2 {
		t.Errorf("rate %v after the episode, want about %v", r, holdShare*200)
	}
	if n := len(logs.events(t, "rate lowered and every worker paused: the server refused most requests")); n != 1 {
		t.Errorf("episode logged %d times, want once", n)
	}
	// Refusals of requests sent before the pause are not a new episode.
	before, _ := p.rates()
	for range 3 * heavyScore {
		p.answered(e, refused, c.now())
	}
	if r, _ := p.rates(); r != before {
		t.Errorf("late refusals of old requests moved the rate from %v to %v", before, r)
	}
	// The pause ends when the server said.
	c.advance(time.Second)
	if d := p.paused(c.now()); d != 0 {
		t.Errorf("still paused for %v after Retry-After", d)
	}
	// A later episode at most halves the rate, whatever the estimate:
	// nothing was granted since the last, yet 190 → 95.
	e = p.sendNow()
	for range heavyScore {
		p.answered(e, refused, c.now())
	}
	if r, _ := p.rates(); math.Abs(r-before/2) > 1e-9 {
		t.Errorf("rate %v after a second episode, want half of %v", r, before)
	}
}

func TestPacerCutsARoundOverTheLimit(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(1000)
	// A round at 1,000/s of which 30% are refused, spread out so that
	// clean answers keep the run as a whole below "most refused".
	paced(p, c, 1000, func(i int) Answer {
		if d := i % 10; d == 2 || d == 5 || d == 8 {
			return refused
		}
		return clean
	})
	r, _ := p.rates()
	if want := holdShare * 700; math.Abs(r-want) > 0.05*want {
		t.Errorf("rate %v, want just under the 700/s granted (%v)", r, want)
	}
	if len(logs.events(t, "rate lowered: the server refused for speed")) == 0 {
		t.Error("the cut was not logged")
	}
	if p.pausedUntil.Load() != 0 {
		t.Error("a round 30% refused paused every worker")
	}
}

func TestPacerJudgesLateAnswers(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(1000)
	// Half a second at 1,000/s; only the first 100 answers are back when
	// the round ends, all clean.
	var epochs []uint64
	for range 500 {
		c.advance(time.Millisecond)
		epochs = append(epochs, p.sendNow())
	}
	for _, e := range epochs[:100] {
		p.answered(e, clean, c.now())
	}
	c.advance(time.Millisecond)
	p.answered(epochs[100], clean, c.now()) // ends the round
	if p.epoch.Load() == epochs[0] {
		t.Fatal("the round did not end")
	}
	if r, _ := p.rates(); r != 1000 {
		t.Fatalf("rate %v on clean answers", r)
	}
	// The rest come back late, every other one refused: too mixed for the
	// run as a whole to be over, but the round was far over the limit.
	for i, e := range epochs[101:] {
		a := clean
		if i%2 == 0 {
			a = refused
		}
		p.answered(e, a, c.now())
	}
	if r, _ := p.rates(); r >= 1000 {
		t.Errorf("rate %v: late refusals of a round 40%% refused were never judged", r)
	}
	if p.pausedUntil.Load() != 0 {
		t.Error("mixed answers paused every worker")
	}
	if n := len(logs.events(t, "rate lowered: the server refused for speed")); n != 1 {
		t.Errorf("cut %d times for one round, want once", n)
	}
}

func TestPacerNoiseFloorDoesNotRatchet(t *testing.T) {
	t.Parallel()
	p, _, _ := testPacer(1000)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked(100)
	p.setLimitLocked(150) // a probe raised it above the last cut
	// Rounds refused a little more than noise would be, each just under
	// the threshold: not cut, and not taken for noise either.
	for range 20 {
		p.judgeLocked(500*time.Millisecond, 75, 75, 5, 70)
	}
	if f := p.noiseFloor(); f != 0 {
		t.Fatalf("noise floor %v learnt above the last cut's rate", f)
	}
	// So a round 15% refused is still over the limit.
	p.judgeLocked(500*time.Millisecond, 75, 75, 11, 64)
	if p.limit >= 150 {
		t.Errorf("rate %v after a round 15%% refused, want cut", p.limit)
	}
}

func TestPacerProbesUpQuickly(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(1000)
	p.mu.Lock()
	p.cutLocked(100)
	p.mu.Unlock()
	// Room everywhere: a server that grants whatever is sent.
	run := drive(p, c, &noisy{}, 12*time.Second, 20*time.Millisecond, 64)
	if run.maxRate > 1000 {
		t.Errorf("rate reached %v, above the ceiling", run.maxRate)
	}
	// 100 → 1000 is tenfold: multiplicative probes make it seconds, where
	// a fixed 3% step would take minutes.
	reached := -1
	for s, n := range run.sent {
		if n >= 950 {
			reached = s
			break
		}
	}
	if reached < 0 || reached > 8 {
		t.Errorf("sent %v a second: want the ceiling within 8 s", run.sent)
	}
	if r, _ := p.rates(); r != 1000 {
		t.Errorf("rate %v, want the ceiling 1000", r)
	}
}

func TestPacerHoldsWhenTheRateIsNotUsed(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(1000)
	p.mu.Lock()
	p.cutLocked(700)
	p.mu.Unlock()
	for range 10 {
		paced(p, c, 300, always(clean)) // the run sends far less than 700/s
	}
	if got, _ := p.rates(); got != 700 {
		t.Errorf("rate = %v: it rose although the run used under half of it", got)
	}
}

func TestPacerUnpacedPacesFromTheRateObserved(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(0)
	paced(p, c, 800, always(clean))
	if r, _ := p.rates(); r != 0 {
		t.Fatalf("rate %v while answers are clean, want unpaced (0)", r)
	}
	e := p.sendNow()
	for range heavyScore {
		p.answered(e, refused, c.now())
	}
	// 800 granted in the second before, and a second's Retry-After: the
	// server's cycle granted 400/s.
	if r, _ := p.rates(); math.Abs(r-holdShare*400) > 0.05*400 {
		t.Errorf("rate %v, want just under the 400/s granted over the cycle", r)
	}
}

func TestPacerSettles(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(0)
	for range 12 {
		paced(p, c, 200, always(clean))
	}
	_, settled := p.rates()
	if math.Abs(settled-200) > 200*settleBand {
		t.Errorf("settled at %v, want about 200", settled)
	}
	ev := logs.events(t, "rate settled")
	if len(ev) != 1 {
		t.Fatalf("settled logged %d times, want once while the rate holds", len(ev))
	}
	if ev[0]["level"] != "info" {
		t.Errorf("settled logged at %v, want info", ev[0]["level"])
	}
	// A rate that drifts by less than 10% is not logged again, however
	// long it drifts; the 10% step is.
	for _, n := range []int{192, 188, 184, 181, 184, 188, 192, 196} {
		for range 12 {
			paced(p, c, n, always(clean))
		}
	}
	if ev = logs.events(t, "rate settled"); len(ev) != 1 {
		t.Errorf("settled logged %d times for drifts under 10%%, want once: %v", len(ev), ev)
	}
	for range 20 {
		paced(p, c, 171, always(clean))
	}
	ev = logs.events(t, "rate settled")
	if len(ev) != 2 {
		t.Fatalf("settled logged %d times after a 14%% fall, want twice", len(ev))
	}
	// Rounded: three significant digits, not 170.90000000000003.
	for _, e := range ev {
		for _, k := range []string{"settled_rate", "rate"} {
			if v := e[k].(float64); v != round3(v) {
				t.Errorf("%s logged as %v, not rounded", k, v)
			}
		}
	}
	// Logged once the settled rate is 10% from the last logged 200: on its
	// way down to 171.
	if got := ev[1]["settled_rate"].(float64); got < 171 || got > 180 {
		t.Errorf("settled_rate %v, want 171 to 180", got)
	}
}

func TestRound3(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{123.90000000000003: 124, 0.45678: 0.457, 1234.5: 1230, 7: 7, 0: 0} {
		if got := round3(in); got != want {
			t.Errorf("round3(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestPacerNotSettledWhileClimbing(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(0)
	n := 50.0
	for range 12 {
		paced(p, c, int(n), always(clean))
		n *= 1.25
	}
	if _, settled := p.rates(); settled != 0 {
		t.Errorf("settled at %v while the rate grew 25%% a second", settled)
	}
	if ev := logs.events(t, "rate settled"); len(ev) != 0 {
		t.Errorf("settled logged while climbing: %v", ev)
	}
}

// throttle8 is the run as a whole over the limit: heavyScore refusals of
// requests from the current round, Retry-After d.
func throttle8(p *pacer, d time.Duration) {
	e := p.sendNow()
	for range heavyScore {
		p.answered(e, Answer{Status: Failed, Retry: true, Throttled: true, RetryAfter: d, HTTPStatus: 429}, time.Now())
	}
}

func TestPacerPausesEveryWorker(t *testing.T) {
	t.Parallel()
	p := newPacer(0, 1, time.Minute, zerolog.Nop())
	p.start()
	const pause = 300 * time.Millisecond
	start := time.Now()
	throttle8(p, pause)
	var wg sync.WaitGroup
	waited := make([]time.Duration, 4)
	for i := range waited {
		wg.Go(func() {
			if _, err := p.wait(context.Background()); err != nil {
				t.Error(err)
			}
			waited[i] = time.Since(start)
		})
	}
	wg.Wait()
	// Lower bounds only: a loaded machine can make the wait longer.
	for i, d := range waited {
		if d < pause {
			t.Errorf("worker %d sent after %v, inside the server's Retry-After of %v", i, d, pause)
		}
	}
}

func TestPacerRiseWakesWaiters(t *testing.T) {
	t.Parallel()
	// One request every 1,000 s: the first goes, the second books a slot
	// 1,000 s ahead.
	p := newPacer(0.001, 1, time.Minute, zerolog.Nop())
	p.start()
	if _, err := p.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.wait(ctx)
		done <- err
	}()
	for p.limiter.Load().Tokens() > -0.5 { // until the slot is booked
		runtime.Gosched()
	}
	// The rate rises: the waiter queues again at once instead of sleeping
	// out its booking.
	p.mu.Lock()
	p.setLimitLocked(1000)
	p.mu.Unlock()
	if err := <-done; err != nil {
		t.Errorf("the waiter slept out a slot booked at the old rate: %v", err)
	}
}

func TestPacerWaitHonoursCancel(t *testing.T) {
	t.Parallel()
	p := newPacer(0, 1, time.Minute, zerolog.Nop())
	p.start()
	throttle8(p, time.Minute)
	sent := p.sent.Load()
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if _, err := p.wait(ctx); err == nil {
		t.Fatal("wait returned without error from inside a minute's pause after cancel")
	}
	if p.sent.Load() != sent {
		t.Errorf("a cancelled wait counted as sent")
	}
}

func TestInFlightFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		rate    float64
		latency time.Duration
		want    int
	}{
		{"unpaced keeps the default", 0, 200 * time.Millisecond, DefaultConcurrency},
		{"unpaced as +Inf", math.Inf(1), time.Second, DefaultConcurrency},
		{"fast server keeps the minimum", 1000, time.Millisecond, MinAutoConcurrency},
		{"Little's law with headroom", 400, 200 * time.Millisecond, 120},
		{"rounds up", 100, 205 * time.Millisecond, 31},
		{"slow server hits the cap", 1000, 2 * time.Second, MaxAutoConcurrency},
		{"no latency seen yet", 100, 0, MinAutoConcurrency},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := InFlightFor(tc.rate, tc.latency); got != tc.want {
				t.Errorf("InFlightFor(%v, %v) = %d, want %d", tc.rate, tc.latency, got, tc.want)
			}
		})
	}
}

func TestGateResizes(t *testing.T) {
	t.Parallel()
	g := newGate(DefaultConcurrency, true, zerolog.Nop())
	ctx := context.Background()
	for range DefaultConcurrency {
		if _, err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Full: the next acquire waits until the pool grows.
	got := make(chan error, 1)
	go func() {
		_, err := g.acquire(ctx)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("acquired a 17th slot of 16 (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.observe(200*time.Millisecond, 400) // needs 120 in flight
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if limit, peak := g.sizes(); limit != 120 || peak != DefaultConcurrency+1 {
		t.Errorf("limit %d peak %d, want 120 and %d", limit, peak, DefaultConcurrency+1)
	}
	// The rate comes down: the pool shrinks, and a slot frees only once
	// enough rows have finished.
	g.observe(200*time.Millisecond, 20) // average still 200ms: 6 in flight
	if limit, _ := g.sizes(); limit != 6 {
		t.Fatalf("limit %d after the rate fell to 20/s, want 6", limit)
	}
	for range 11 {
		g.release()
	}
	blocked, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(blocked); err == nil {
		t.Error("acquired with 6 busy and a limit of 6")
	}
	g.release()
	if limit, err := g.acquire(ctx); err != nil || limit != 6 {
		t.Errorf("acquire = %d, %v; want a slot under the limit of 6", limit, err)
	}
}

func TestGateFixedSizeIgnoresLatency(t *testing.T) {
	t.Parallel()
	g := newGate(3, false, zerolog.Nop())
	g.observe(time.Second, 1000)
	if limit, _ := g.sizes(); limit != 3 {
		t.Errorf("a fixed pool resized itself to %d", limit)
	}
}

func TestGateRestingRowsFreeTheirSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, auto := range []bool{true, false} {
		g := newGate(4, auto, zerolog.Nop())
		for range 4 {
			if _, err := g.acquire(ctx); err != nil {
				t.Fatal(err)
			}
		}
		resume := g.rest() // one row waits out a Retry-After
		blocked, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := g.acquire(blocked)
		cancel()
		if auto && err != nil {
			t.Errorf("self-sizing: a resting row kept its slot from the next row (%v)", err)
		}
		if !auto && err == nil {
			t.Errorf("fixed --concurrency 4: a fifth row went in while one rested")
		}
		resume()
	}
}
