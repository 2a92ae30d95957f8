package revoke

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

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
	refused = Answer{Status: Failed, Retry: true, Throttled: true, HTTPStatus: 429}
)

// cleanSecond plays one second of n requests sent and answered cleanly,
// spread over the second, as a paced run would.
func cleanSecond(p *pacer, c *clock, n int) {
	step := time.Second / time.Duration(n)
	for range n {
		c.advance(step)
		p.sent.Add(1)
		p.answered(p.epoch.Load(), clean, c.now())
	}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-6*max(1, want) }

func TestPacerDecrease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ceiling float64
		// play drives the pacer, then the rate must be want.
		play func(p *pacer, c *clock)
		want float64
	}{
		{"one refusal cuts by 0.7", 1000, func(p *pacer, c *clock) {
			c.advance(200 * time.Millisecond)
			p.answered(0, refused, c.now())
		}, 700},
		{"a burst of refusals from one moment is one decrease", 1000, func(p *pacer, c *clock) {
			c.advance(200 * time.Millisecond)
			for range 20 {
				p.answered(0, refused, c.now())
			}
		}, 700},
		{"refusals of requests sent before the decrease are ignored", 1000, func(p *pacer, c *clock) {
			c.advance(200 * time.Millisecond)
			p.answered(0, refused, c.now())
			c.advance(300 * time.Millisecond) // slow answers to old requests
			p.answered(0, refused, c.now())
		}, 700},
		{"a refusal at the new rate cuts again", 1000, func(p *pacer, c *clock) {
			c.advance(200 * time.Millisecond)
			p.answered(0, refused, c.now())
			c.advance(150 * time.Millisecond)
			p.answered(1, refused, c.now())
		}, 490},
		{"not twice within the window, even at the new rate", 1000, func(p *pacer, c *clock) {
			c.advance(200 * time.Millisecond)
			p.answered(0, refused, c.now())
			c.advance(decreaseWindow / 2)
			p.answered(1, refused, c.now())
		}, 700},
		{"never below the floor", 1000, func(p *pacer, c *clock) {
			for i := range 100 {
				c.advance(time.Second / 2)
				p.answered(uint64(i), refused, c.now())
			}
		}, minRate},
		{"the floor never exceeds the ceiling", 0.5, func(p *pacer, c *clock) {
			for i := range 10 {
				c.advance(time.Second / 2)
				p.answered(uint64(i), refused, c.now())
			}
		}, 0.5},
		{"unpaced: the first refusal paces at 0.7 of the rate observed", 0, func(p *pacer, c *clock) {
			p.sent.Add(400) // 400 requests in half a second: 800/s
			c.advance(500 * time.Millisecond)
			p.answered(0, refused, c.now())
		}, 560},
		{"after seconds of grants, settles just under the granted rate", 1000, func(p *pacer, c *clock) {
			for range 3 {
				cleanSecond(p, c, 250)
				p.sent.Add(50) // sent 300/s, of which 250/s came back clean
			}
			p.answered(0, refused, c.now())
		}, grantedShare * 250},
		{"a limit the run never reached is cut from the rate sent", 1000, func(p *pacer, c *clock) {
			for range 2 {
				cleanSecond(p, c, 100) // latency-bound at 100/s under a 1000/s limit
			}
			p.answered(0, refused, c.now())
		}, grantedShare * 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, c, logs := testPacer(tc.ceiling)
			tc.play(p, c)
			got, _ := p.rates()
			if !near(got, tc.want) {
				t.Errorf("rate = %v, want %v", got, tc.want)
			}
			if lim := float64(p.limiter.Load().Limit()); !near(lim, tc.want) {
				t.Errorf("limiter at %v, pacer says %v", lim, got)
			}
			if got != tc.ceiling {
				if n := len(logs.events(t, "rate lowered: the server refused for speed")); n == 0 {
					t.Error("the decrease was not logged")
				}
			}
		})
	}
}

func TestPacerProbesBackUpToTheCeiling(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(1000)
	c.advance(200 * time.Millisecond)
	p.answered(0, refused, c.now()) // 1000 -> 700
	prev := 700.0
	for range 20 {
		r, _ := p.rates()
		cleanSecond(p, c, int(r))
		got, _ := p.rates()
		if got > 1000 {
			t.Fatalf("rate %v above the ceiling", got)
		}
		if got < prev {
			t.Fatalf("rate fell from %v to %v on clean answers", prev, got)
		}
		prev = got
	}
	if prev != 1000 {
		t.Errorf("after 20 clean seconds the rate is %v, want back at the ceiling 1000", prev)
	}
	// Additive: each clean second adds the same step, 3% of 700.
	raised := logs.events(t, "rate raised: answers were clean")
	if len(raised) < 2 {
		t.Fatalf("%d increases logged", len(raised))
	}
	if step := raised[1]["rate"].(float64) - raised[0]["rate"].(float64); !near(step, increaseShare*700) {
		t.Errorf("step %v, want %v", step, increaseShare*700)
	}
}

func TestPacerHoldsWhenTheRateIsNotUsed(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(1000)
	c.advance(200 * time.Millisecond)
	p.answered(0, refused, c.now()) // 1000 -> 700
	for range 5 {
		cleanSecond(p, c, 300) // the run sends far less than 700/s
	}
	if got, _ := p.rates(); got != 700 {
		t.Errorf("rate = %v: it rose although the run used under half of it", got)
	}
}

func TestPacerNoIncreaseInASecondWithARefusal(t *testing.T) {
	t.Parallel()
	p, c, _ := testPacer(1000)
	c.advance(200 * time.Millisecond)
	p.answered(0, refused, c.now()) // 1000 -> 700
	cleanSecond(p, c, 700)
	before, _ := p.rates()
	// A late refusal of a request sent before the decrease: no decrease,
	// but no probe up either.
	c.advance(10 * time.Millisecond)
	p.answered(0, refused, c.now())
	cleanSecond(p, c, 700)
	if got, _ := p.rates(); got != before {
		t.Errorf("rate went from %v to %v across a second with a refusal", before, got)
	}
}

func TestPacerSettles(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(0)
	for range 12 {
		cleanSecond(p, c, 200)
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
	// A new level is logged again once it holds.
	for range 20 {
		cleanSecond(p, c, 100)
	}
	if _, settled = p.rates(); math.Abs(settled-100) > 100*settleBand {
		t.Errorf("settled at %v after the rate halved, want about 100", settled)
	}
	if ev = logs.events(t, "rate settled"); len(ev) != 2 {
		t.Errorf("settled logged %d times, want twice", len(ev))
	}
}

func TestPacerNotSettledWhileClimbing(t *testing.T) {
	t.Parallel()
	p, c, logs := testPacer(0)
	n := 50.0
	for range 12 {
		cleanSecond(p, c, int(n))
		n *= 1.25
	}
	if _, settled := p.rates(); settled != 0 {
		t.Errorf("settled at %v while the rate grew 25%% a second", settled)
	}
	if ev := logs.events(t, "rate settled"); len(ev) != 0 {
		t.Errorf("settled logged while climbing: %v", ev)
	}
}

func TestPacerPausesEveryWorker(t *testing.T) {
	t.Parallel()
	p := newPacer(0, 1, time.Minute, zerolog.Nop())
	p.start()
	const pause = 300 * time.Millisecond
	start := time.Now()
	p.answered(0, Answer{Status: Failed, Retry: true, Throttled: true, RetryAfter: pause, HTTPStatus: 429}, time.Now())
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

func TestPacerWaitHonoursCancel(t *testing.T) {
	t.Parallel()
	p := newPacer(0, 1, time.Minute, zerolog.Nop())
	p.start()
	p.answered(0, Answer{Throttled: true, Retry: true, RetryAfter: time.Minute}, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if _, err := p.wait(ctx); err == nil {
		t.Fatal("wait returned without error from inside a minute's pause after cancel")
	}
	if p.sent.Load() != 0 {
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
