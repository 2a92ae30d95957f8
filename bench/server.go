package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// server is a Concur simulator on loopback whose door notes the arrival
// time of every request, so that rates are measured where they matter: at
// the server, the same way for every client.
type server struct {
	sim   *sim.Server
	url   string // base URL, e.g. http://127.0.0.1:41234
	admin string // the only administrator token it accepts
	hs    *http.Server
	done  chan struct{}
	start time.Time

	mu       sync.Mutex
	arrivals []time.Duration // since start, in arrival order
	granted  []time.Duration // arrivals answered 200
}

// startServer serves a fresh simulator: every measurement gets its own, so
// that no state (revoked tokens, throttle budget) carries over.
func startServer(cfg sim.Config) (*server, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("make administrator token: %w", err)
	}
	cfg.AdminToken = "bench-admin-" + hex.EncodeToString(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulator: listen on loopback: %w", err)
	}
	s := &server{
		sim:      sim.New(cfg),
		url:      "http://" + ln.Addr().String(),
		admin:    cfg.AdminToken,
		done:     make(chan struct{}),
		start:    time.Now(),
		arrivals: make([]time.Duration, 0, 1<<16),
	}
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // its lines could quote a request
	}
	go func() {
		defer close(s.done)
		_ = s.hs.Serve(ln)
	}()
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Since(s.start)
	s.mu.Lock()
	s.arrivals = append(s.arrivals, at)
	s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.sim.ServeHTTP(rec, r)
	if rec.status == http.StatusOK && !rec.hijacked {
		s.mu.Lock()
		s.granted = append(s.granted, at)
		s.mu.Unlock()
	}
}

// statusRecorder notes the status a handler answered with. It passes
// Hijack through: the simulator resets connections that way.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hijack: %T cannot", r.ResponseWriter)
	}
	r.hijacked = true
	return hj.Hijack()
}

func (s *server) close() {
	s.sim.Close()
	_ = s.hs.Close()
	<-s.done
}

// traffic is what a server saw during one measurement.
type traffic struct {
	requests int
	// span is from the first arrival to the last.
	span time.Duration
	// peak is the most arrivals in any one-second window.
	peak int
	// revocations counts requests that revoked something; byStatus counts
	// answers by HTTP status.
	revocations int64
	byStatus    map[int]int64
	// granted is the arrival of every request answered 200, from the
	// first arrival, sorted.
	granted []time.Duration
}

func (s *server) traffic() traffic {
	s.mu.Lock()
	arrivals := slices.Clone(s.arrivals)
	granted := slices.Clone(s.granted)
	s.mu.Unlock()
	st := s.sim.Stats()
	t := traffic{requests: len(arrivals), revocations: st.Revocations, byStatus: st.ByStatus}
	if len(arrivals) > 0 {
		// Handlers run concurrently, so arrivals may be a hair out of order.
		slices.Sort(arrivals)
		t.span = arrivals[len(arrivals)-1] - arrivals[0]
		t.peak = peakWindow(arrivals, time.Second)
		slices.Sort(granted)
		for i := range granted {
			granted[i] -= arrivals[0]
		}
		t.granted = granted
	}
	return t
}

// quotaUsed is the share of a fixed-window quota that granted requests
// used, over the windows (counted from the first arrival) before the last
// one touched: in that one the run ran out of rows, not of quota. It also
// returns how many windows that is; 0 when the run touched only one.
func (t traffic) quotaUsed(quota int, window time.Duration) (float64, int) {
	full := int(t.span / window) // windows wholly before the last one touched
	if full == 0 || quota <= 0 {
		return 0, 0
	}
	n := 0
	for _, at := range t.granted {
		if at < time.Duration(full)*window {
			n++
		}
	}
	return float64(n) / float64(full*quota), full
}

// rate is requests per second over the span; the first arrival opens the
// span, so it is not counted in it.
func (t traffic) rate() float64 { return perSecond(t.requests-1, t.span) }

// refusedShare is the fraction of requests answered 429.
func (t traffic) refusedShare() float64 {
	if t.requests == 0 {
		return 0
	}
	return float64(t.byStatus[http.StatusTooManyRequests]) / float64(t.requests)
}

func perSecond(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// peakWindow returns the largest number of sorted arrivals that fall in any
// half-open window [t, t+width). It is enough to try windows that start at
// an arrival.
func peakWindow(sorted []time.Duration, width time.Duration) int {
	peak, j := 0, 0
	for i := range sorted {
		for j < len(sorted) && sorted[j] < sorted[i]+width {
			j++
		}
		peak = max(peak, j-i)
	}
	return peak
}
