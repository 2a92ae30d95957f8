package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// sandboxLike answers as the --sandbox simulator does (10 to 30 ms), without
// its faults, so that pacing, not the server, sets the pace.
var sandboxLike = sim.Config{Live: true, Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// rateAccuracy asks for a few rates and measures, at the server, the rate
// achieved and the busiest second. --concurrency is left to its default.
func (h *harness) rateAccuracy(ctx context.Context, t *table, sc scaled) error {
	for _, r := range sc.rates {
		rows := int(r*sc.rateSeconds) + 1
		input, err := h.tokenInput(rows)
		if err != nil {
			return err
		}
		h.progress("rate: --rate %s over %d rows", formatRate(r), rows)
		res, tr, err := h.revokeAll(ctx, "rate-"+formatRate(r), sandboxLike, input, rows, sc.budget, "--rate", formatRate(r))
		if err != nil {
			return err
		}
		achieved := tr.rate()
		// Burst 1: a perfect limiter lets rate requests into a half-open
		// one-second window, rate+1 into a closed one. Arrivals are timed at
		// the server, after the client's and the server's schedulers, which
		// on a loaded machine bunch a request or two: 1% is allowed for that.
		ceiling := int(r) + max(1, int(r/100))
		met := tr.peak <= ceiling && achieved >= 0.95*r && !res.stopped
		t.add("rate", fmt.Sprintf("--rate %s, %d rows, 10-30 ms server", formatRate(r), rows),
			fmt.Sprintf("%.1f req/s achieved; busiest second %d requests", achieved, tr.peak),
			fmt.Sprintf("requested %s/s", formatRate(r)),
			fmt.Sprintf("%.1f%% of requested; peak %.2f× requested", 100*achieved/r, float64(tr.peak)/r),
			t.verdict(fmt.Sprintf("≥ 95%%; peak ≤ %d (--rate, +1%% arrival jitter)", ceiling), met))
	}
	return nil
}

// latencyBound runs --rate latencyRate against slow servers with
// --concurrency left out: the pool must size itself to reach the rate.
func (h *harness) latencyBound(ctx context.Context, t *table, sc scaled) error {
	input, err := h.tokenInput(sc.latencyRows)
	if err != nil {
		return err
	}
	ideal := time.Duration(float64(sc.latencyRows) / sc.latencyRate * float64(time.Second))
	budget := max(3*time.Second, ideal*5/2)
	for _, lat := range sc.latencies {
		cfg := sim.Config{Live: true, Latency: lat}
		h.progress("latency: --rate %s against a %s server, %d rows (budget %s)", formatRate(sc.latencyRate), lat, sc.latencyRows, budget)
		res, tr, err := h.revokeAll(ctx, "latency-"+lat.String(), cfg, input, sc.latencyRows, budget, "--rate", formatRate(sc.latencyRate))
		if err != nil {
			return err
		}
		achieved := tr.rate()
		stopped := ""
		if res.stopped {
			stopped = fmt.Sprintf(", stopped at the %s budget", budget)
		}
		t.add("latency", fmt.Sprintf("--rate %s, %s server, no --concurrency", formatRate(sc.latencyRate), lat),
			fmt.Sprintf("%.0f req/s achieved (%d requests%s)", achieved, tr.requests, stopped),
			fmt.Sprintf("requested %s/s", formatRate(sc.latencyRate)),
			fmt.Sprintf("%.0f%% of requested", 100*achieved/sc.latencyRate),
			t.verdict("≥ 95%", achieved >= 0.95*sc.latencyRate))
	}
	return nil
}
