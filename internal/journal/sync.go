package journal

import (
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// outcomeWriter is what a Syncer needs of a *Writer.
type outcomeWriter interface {
	Write(revoke.Outcome) error
	Sync() error
}

// stopper is a timer that can be disarmed, such as a *time.Timer.
type stopper interface{ Stop() bool }

// Syncer writes outcomes and commits them to stable storage at most once a
// period, and at most a period after each row: the first row after a sync
// arms a timer, and the timer syncs. A fast run pays one fsync a period, not
// one a row, and a lull (every worker waiting out a Retry-After) cannot leave
// a row unsynced for longer than the period.
type Syncer struct {
	period    time.Duration
	afterFunc func(time.Duration, func()) stopper

	mu     sync.Mutex
	w      outcomeWriter
	timer  stopper // armed: a sync is due
	closed bool
	err    error // a failed background sync; sticky
}

// NewSyncer writes outcomes to w and syncs them at most a period apart.
func NewSyncer(w outcomeWriter, period time.Duration) *Syncer {
	return &Syncer{
		w:         w,
		period:    period,
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
	}
}

// Write appends o and makes sure a sync is due. It returns the error of an
// earlier background sync, if any, so that the run stops on it.
func (s *Syncer) Write(o revoke.Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := s.w.Write(o); err != nil {
		return err
	}
	if s.timer == nil && !s.closed {
		s.timer = s.afterFunc(s.period, s.sync)
	}
	return nil
}

func (s *Syncer) sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.closed || s.err != nil {
		return
	}
	s.err = s.w.Sync()
}

// Stop disarms the timer and returns the error of a failed background sync.
// The caller then closes the file, which syncs what is left.
func (s *Syncer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	return s.err
}
