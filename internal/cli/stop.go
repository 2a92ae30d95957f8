package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Interrupted is the cause main cancels the run's context with on the
// first SIGINT or SIGTERM, so that the run names the signal in its
// acknowledgement, its final error, the summary and the finished line.
func Interrupted(sig os.Signal) error { return interrupted{sig} }

type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string { return "interrupted (" + signalName(e.sig) + ")" }

// Is makes the cause a cancellation: the pool stops gently, as for any
// cancelled context, rather than reporting it as what broke the run.
func (e interrupted) Is(target error) bool { return target == context.Canceled }

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// budgetSpent is the cause of a stop by --max-duration.
type budgetSpent struct{ d time.Duration }

func (e budgetSpent) Error() string {
	return "time budget (--max-duration " + shortDuration(e.d) + ") spent"
}

func (e budgetSpent) Is(target error) bool { return target == context.Canceled }

// shortDuration writes d as an operator would: 50m, not 50m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// errCredentials prefixes a stop by a fatal answer about the run's own
// credentials (the admin token, the client secret).
var errCredentials = errors.New("credentials rejected")

// nameTheCause makes the error of a run that stopped early say why: the
// signal, the time budget, or rejected credentials.
func nameTheCause(ctx context.Context, runErr error) error {
	var fatal *revoke.FatalError
	switch {
	case errors.Is(runErr, revoke.ErrStopped):
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
			return fmt.Errorf("%w: %w", cause, runErr)
		}
	case errors.As(runErr, &fatal) && aboutCredentials(fatal.Err):
		return fmt.Errorf("%w: %w", errCredentials, runErr)
	}
	return runErr
}

// aboutCredentials reports whether a fatal error is the provider's answer
// about the run's own credentials: a rejection (Fatal), or a refusal that
// might have been about one row (Suspect) which a probe then confirmed. An
// unverifiable certificate or an unreachable server is neither.
func aboutCredentials(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Fatal() bool }:
		if e.Fatal() {
			return true
		}
	}
	if s, ok := err.(interface{ Suspect() bool }); ok && s.Suspect() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return aboutCredentials(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if aboutCredentials(e) {
				return true
			}
		}
	}
	return false
}

// acknowledgeStop tells the operator, the moment ctx is cancelled (a first
// signal, the time budget), that the run is stopping, what it still waits
// for, and for how long at most; the bar shows "stopping". The returned
// function ends the watch once the pool has returned.
func acknowledgeStop(ctx context.Context, cfg Config, stats func() revoke.Stats, w *watch, log zerolog.Logger) (done func()) {
	ended := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ended:
			return
		case <-ctx.Done():
		}
		w.stopping()
		cause := context.Cause(ctx)
		var sig interrupted
		what, then := "stop asked for", "continue with --resume"
		switch {
		case errors.As(cause, &sig):
			what = "stop asked for: " + sig.Error()
			then = "a second signal exits at once (recorded rows stay recorded); continue with --resume"
		case cause != nil && cause != context.Canceled:
			what = cause.Error()
		}
		n := stats().InFlight
		log.Warn().Str("cause", what).Int("in_flight", n).Str("timeout", shortDuration(cfg.Timeout)).
			Msgf("%s: sending no new requests; the %d %s in flight %s at most --timeout %s to finish, and %s recorded; %s",
				what, n, plural(n, "request", "requests"), plural(n, "gets", "get"), shortDuration(cfg.Timeout), plural(n, "is", "are"), then)
	}()
	var once sync.Once
	return func() { once.Do(func() { close(ended) }); wg.Wait() }
}

// plural picks the form of a word for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
