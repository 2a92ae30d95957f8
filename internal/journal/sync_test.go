package journal

import (
	"errors"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// fakeOutcomes counts what the Syncer asks of the outcome file.
type fakeOutcomes struct {
	writes, syncs int
	syncErr       error
}

func (f *fakeOutcomes) Write(revoke.Outcome) error { f.writes++; return nil }
func (f *fakeOutcomes) Sync() error                { f.syncs++; return f.syncErr }

// fakeTimers stands in for time.AfterFunc: the test fires timers itself.
type fakeTimers struct {
	armed []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	fn      func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (ft *fakeTimers) afterFunc(d time.Duration, fn func()) stopper {
	t := &fakeTimer{d: d, fn: fn}
	ft.armed = append(ft.armed, t)
	return t
}

// fire runs the last armed timer, as the clock would (even if stopped too
// late to stop it).
func (ft *fakeTimers) fire() { ft.armed[len(ft.armed)-1].fn() }

func TestSyncerSyncsWithinAPeriod(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk on fire")
	cases := []struct {
		name string
		// steps: 'w' writes a row, 'f' fires the last timer, 's' stops.
		steps      string
		syncErr    error
		wantTimers int
		wantSyncs  int
		wantErr    error // from the last step that can fail
	}{
		{"no rows: nothing to sync", "s", nil, 0, 0, nil},
		{"one row then a lull: synced when the period ends", "wf", nil, 1, 1, nil},
		{"many rows in a period: one sync", "wwwwwf", nil, 1, 1, nil},
		{"a row after a sync arms a new period", "wwfwwf", nil, 2, 2, nil},
		{"stop disarms: a late timer does not sync", "wsf", nil, 1, 0, nil},
		{"a failed sync stops the next write", "wfw", errDisk, 1, 1, errDisk},
		{"a failed sync is reported at stop", "wfs", errDisk, 1, 1, errDisk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := &fakeOutcomes{syncErr: tc.syncErr}
			timers := &fakeTimers{}
			s := NewSyncer(out, time.Second)
			s.afterFunc = timers.afterFunc
			var err error
			for _, step := range tc.steps {
				switch step {
				case 'w':
					err = s.Write(revoke.Outcome{Line: 2})
				case 'f':
					timers.fire()
				case 's':
					err = s.Stop()
				}
			}
			if len(timers.armed) != tc.wantTimers || out.syncs != tc.wantSyncs {
				t.Errorf("%d timers armed, %d syncs; want %d and %d", len(timers.armed), out.syncs, tc.wantTimers, tc.wantSyncs)
			}
			for _, tm := range timers.armed {
				if tm.d != time.Second {
					t.Errorf("timer armed for %v, want the period", tm.d)
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
