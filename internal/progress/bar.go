package progress

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// refreshEvery is how often the bar is redrawn and fed the meter's count.
const refreshEvery = 150 * time.Millisecond

// Screen is the operator's terminal (stderr). Everything the run prints
// there, log lines included, is written through it, so that while a bar is
// shown the lines scroll above the bar instead of tearing it.
//
// The bar is mpb's rather than progressbar's because mpb's container is
// itself an io.Writer that prints whole lines above the bars it draws, in
// the same goroutine that redraws them; progressbar has no such writer, and
// a log line written to the terminal beside it lands in the middle of the
// bar's line.
type Screen struct {
	out io.Writer

	mu       sync.Mutex
	progress *mpb.Progress // nil when no bar is shown
	bar      *mpb.Bar
	meter    *Meter
	stop     chan struct{}
	stopped  chan struct{}
}

// NewScreen returns a screen that writes to out, with no bar yet.
func NewScreen(out io.Writer) *Screen { return &Screen{out: out} }

// Write prints p: above the bar while one is shown, else straight to the
// terminal. A zerolog writer hands it one whole log line per call.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.progress != nil {
		n, err := s.progress.Write(p)
		var done mpb.ErrDone[*mpb.Progress]
		if !errors.As(err, &done) {
			return n, err
		}
		// The bar gave up (it could not read the terminal's size, say): a
		// log line must still be printed.
	}
	return s.out.Write(p)
}

// BarOptions shape ShowBar.
type BarOptions struct {
	// Force draws the bar even when the output is not a terminal
	// (--progress bar), with a fixed width.
	Force bool
}

// fallbackColumns is the width of a bar on a terminal that reports no
// size (docker run -t or kubectl run -it before the first resize, script,
// some CI runners): the width terminals start with.
const fallbackColumns = 80

// ShowBar starts drawing a bar fed by m, until HideBar.
func (s *Screen) ShowBar(m *Meter, opt BarOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.progress != nil {
		return
	}
	out, fixed := s.out, opt.Force
	if !fixed && terminalColumns(s.out) == 0 {
		// mpb would draw a bar of width 0 (nothing at all). Hidden
		// behind a plain writer, the terminal gets a bar of a fixed
		// width, drawn as on any terminal.
		out, fixed = struct{ io.Writer }{s.out}, true
	}
	s.progress = mpb.New(
		mpb.WithOutput(out),
		mpb.WithRefreshRate(refreshEvery),
		mpb.ContainerOptional(mpb.WithWidth(fallbackColumns), fixed),
		mpb.ContainerOptional(mpb.WithAutoRefresh(), fixed),
		mpb.ContainerOptional(mpb.ForceTTY(), fixed),
	)
	var style mpb.BarFillerBuilder = mpb.BarStyle()
	total := m.total
	if total < 0 {
		// Without a total there is nothing to fill: a spinner shows the
		// run is alive, the counters beside it how far it got.
		style, total = mpb.SpinnerStyle(), 0
	}
	s.bar = s.progress.New(total, style,
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return doneText(m.Snapshot()) })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return paceText(m.Snapshot()) })),
	)
	s.meter = m
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.feed(s.bar, m, s.stop, s.stopped)
}

// feed moves the meter's count into the bar at the bar's refresh rate:
// setting it for every row would cost a channel round trip per row.
func (s *Screen) feed(bar *mpb.Bar, m *Meter, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	// Three times per redraw, so the fill is never more than a third of
	// a redraw behind the counters, which read the meter directly.
	t := time.NewTicker(refreshEvery / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			bar.SetCurrent(m.Snapshot().Done)
		}
	}
}

// HideBar draws the bar one last time, complete if finished is set, and
// leaves it on the screen above what comes next. Later writes go straight
// to the terminal.
func (s *Screen) HideBar(finished bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.progress == nil {
		return
	}
	close(s.stop)
	<-s.stopped
	s.bar.SetCurrent(s.meter.Snapshot().Done)
	if finished {
		s.bar.SetTotal(-1, true)
	} else {
		s.bar.Abort(false)
	}
	s.progress.Wait()
	s.progress, s.bar, s.meter = nil, nil, nil
}

// doneText is the left of the bar: rows settled of rows in the input.
func doneText(s Snapshot) string {
	if s.Total < 0 {
		if s.Done == 1 {
			return "1 row "
		}
		return fmt.Sprintf("%d rows ", s.Done)
	}
	return fmt.Sprintf("%d/%d rows ", s.Done, s.Total)
}

// paceText is the right of the bar: share done, rate, time left, and the
// failures an operator must not miss.
func paceText(s Snapshot) string {
	var b strings.Builder
	if s.Total > 0 {
		fmt.Fprintf(&b, " %3d%%", min(s.Done*100/s.Total, 100))
	}
	fmt.Fprintf(&b, " %.1f rows/s", s.Rate)
	if s.Stopping {
		// No ETA: the run will not reach the end of the input.
		b.WriteString(" stopping: waiting for the requests in flight")
	} else if s.ETA >= 0 {
		fmt.Fprintf(&b, " ETA %s", s.ETA)
	}
	fmt.Fprintf(&b, " failed %d invalid %d", s.Rows[revoke.Failed], s.Rows[revoke.Invalid])
	if s.Retries > 0 {
		fmt.Fprintf(&b, " retries %d", s.Retries)
	}
	return b.String()
}
