package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/audit"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/progress"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Progress modes (--progress).
const (
	progressAuto = "auto" // bar on a terminal, log lines elsewhere
	progressBar  = "bar"
	progressLog  = "log"
	progressOff  = "off"
)

// DefaultProgressInterval is how often a "progress" line is logged and the
// metrics file refreshed.
const DefaultProgressInterval = 10 * time.Second

// checkWatch refuses, before anything is sent, settings of the watching and
// reporting flags that could only fail at the end of a long run.
func (cfg *Config) checkWatch() error {
	switch cfg.Progress {
	case progressAuto, progressBar, progressLog, progressOff:
	default:
		return usagef("--progress %q: want auto, bar, log or off", cfg.Progress)
	}
	for flag, path := range map[string]string{"--summary": cfg.SummaryFile, "--metrics-file": cfg.MetricsFile} {
		if path == "" {
			continue
		}
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return usagef("%s %s: directory %s does not exist", flag, path, dir)
		}
	}
	return nil
}

// watch follows one run for the people who run it: how far it has got
// while it goes (a bar on a terminal, "progress" log lines elsewhere), and
// afterwards the --summary document, the --metrics-file and a summary on
// stderr for a person.
type watch struct {
	cfg    Config
	args   []string // of "run", for the command that continues the run
	screen *progress.Screen
	// human is set when a person reads stderr: console logs, or a terminal.
	human bool
	bar   bool
	log   zerolog.Logger
	start time.Time

	// Set by begin; a run refused before it sends anything has none.
	meter *progress.Meter
	total int64
	// emptyRows is the number of rows of empty cells in the input.
	emptyRows int64
	runStart  time.Time
	runEnd    time.Time
	tick      chan struct{} // closed by end
	ticking   sync.WaitGroup

	lastSuccess     time.Time
	lastSuccessRead bool

	// pusher pushes the metrics to --push-url; pushedLastSuccess is the
	// gateway's last-success time for this run's group, when it could say.
	pusher            *report.Pusher
	pushedLastSuccess time.Time
	pushedKnown       bool
	pushedRead        bool

	// run is this run's record (who, where, against what), for the
	// summary; firstStarted the start of the first run on the outcome
	// file, from its sidecar. endRun, set once the outcome file is open,
	// records how the run ended in the sidecar.
	run          audit.Run
	firstStarted time.Time
	endRun       func(ended time.Time, exit int) error
}

// pushTimeout bounds one push: a gateway that hangs must not hold up the
// progress lines or the end of the run.
const pushTimeout = 5 * time.Second

// newWatch decides how the run shows its progress on stderr. Logs are to be
// written through w.screen, so that they never tear the bar.
func newWatch(cfg Config, args []string, stderr io.Writer) *watch {
	terminal := isTerminal(stderr)
	var pusher *report.Pusher
	if cfg.PushURL != nil {
		pusher = &report.Pusher{URL: cfg.PushURL, Client: endpoint.WithoutRedirects(&http.Client{Timeout: pushTimeout})}
	}
	return &watch{
		pusher: pusher,
		cfg:    cfg,
		args:   args,
		screen: progress.NewScreen(stderr),
		human:  terminal || consoleLogs(cfg, stderr),
		bar:    cfg.Progress == progressBar || (cfg.Progress == progressAuto && terminal),
		log:    zerolog.Nop(),
		start:  time.Now(),
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// consoleLogs reports whether logs are written for a person (console
// format) rather than for a machine (JSON).
func consoleLogs(cfg Config, stderr io.Writer) bool {
	return cfg.LogFormat == "console" || (cfg.LogFormat == "auto" && isTerminal(stderr))
}

// begin starts watching, just before the first row is read: total is the
// number of input rows (-1 if unknown), stats the pool's counters.
func (w *watch) begin(total int64, stats func() revoke.Stats) {
	w.total = total
	before := w.recordedBefore()
	w.meter = progress.NewMeter(progress.Config{Total: total, Before: before, Stats: stats})
	w.runStart = time.Now()
	if w.cfg.MetricsFile != "" {
		w.readLastSuccess()
	}
	if w.pusher != nil {
		w.readPushedLastSuccess()
	}
	w.refreshMetrics()
	w.tick = make(chan struct{})
	w.ticking.Add(1)
	go w.every(w.cfg.ProgressInterval, w.tick)
	if w.bar {
		w.screen.ShowBar(w.meter, progress.BarOptions{Force: w.cfg.Progress == progressBar})
	}
}

// recordedBefore counts by status the rows a resumed outcome file already
// settled: they are done before this run starts. Rows this run sends again
// (see Config.sendsAgain) are left out.
func (w *watch) recordedBefore() map[revoke.Status]int64 {
	if !w.cfg.Resume {
		return nil
	}
	t, err := report.TallyFanOut(w.cfg.Out, w.cfg.Rows.ConsumerKeys)
	if err != nil {
		// The journal was read once already to resume; if it cannot be
		// read again, progress starts from zero rather than stopping a run.
		w.log.Warn().AnErr(keyError, err).Msg("cannot count the rows already recorded; progress counts this run's rows only")
		return nil
	}
	for s := range t.ByStatus {
		if w.cfg.sendsAgain(s) {
			delete(t.ByStatus, s)
		}
	}
	return t.ByStatus
}

// every logs progress (when no bar shows it) and refreshes the metrics file
// at each interval, until stop is closed.
func (w *watch) every(interval time.Duration, stop <-chan struct{}) {
	defer w.ticking.Done()
	// The metrics are refreshed beside the ticks, one refresh at a time:
	// a slow fsync or a Pushgateway that takes its 5 s to fail must not
	// hold back the progress lines. At most one refresh waits behind a
	// running one; other ticks skip theirs. Every refresh ends before every
	// returns, so none overlaps the final write.
	refresh := make(chan struct{}, 1)
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		for range refresh {
			w.refreshMetrics()
		}
	}()
	defer func() { close(refresh); <-refreshed }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if w.cfg.Progress == progressLog || (w.cfg.Progress == progressAuto && !w.bar) {
				progress.Log(w.log, w.meter.Snapshot())
			}
			select {
			case refresh <- struct{}{}:
			default:
			}
		}
	}
}

// stopping shows on the bar that the run was asked to stop.
func (w *watch) stopping() {
	if w.meter != nil {
		w.meter.Stop()
	}
}

// add counts one recorded outcome.
func (w *watch) add(o revoke.Outcome) {
	if w.meter != nil {
		w.meter.Add(o)
	}
}

// end stops the progress display once the pool has returned; finished says
// whether it read the whole input.
func (w *watch) end(finished bool) {
	if w.meter == nil || w.tick == nil {
		return
	}
	w.runEnd = time.Now()
	close(w.tick)
	w.ticking.Wait()
	w.tick = nil
	w.screen.HideBar(finished)
}

// refreshMetrics rewrites the metrics file and pushes the metrics during the
// run. A failure is logged, not fatal: the revocations matter more than a
// dashboard, and the final write reports it as an error.
func (w *watch) refreshMetrics() {
	if w.cfg.MetricsFile == "" && w.pusher == nil {
		return
	}
	m := w.metrics(w.meter.Snapshot(), 0)
	m.Running = true
	if w.cfg.MetricsFile != "" {
		if err := report.WriteMetrics(w.cfg.MetricsFile, m); err != nil {
			w.log.Warn().AnErr(keyError, err).Msg("cannot refresh the metrics file")
		}
	}
	w.push(m)
}

// push sends m to the Pushgateway, with the gateway's own last-success
// time. An unreachable gateway is a warning, never a lost run: the outcome
// file, the summary and the exit code still say everything.
func (w *watch) push(m report.Metrics) {
	if w.pusher == nil {
		return
	}
	m.LastSuccess, m.LastSuccessUnknown = w.pushedLastSuccess, !w.pushedKnown
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	if err := w.pusher.Push(ctx, m); err != nil {
		w.log.Warn().AnErr(keyError, err).Msg("cannot push the metrics to the Pushgateway; the run goes on")
	}
}

// readPushedLastSuccess reads the gateway's last-success time for this
// run's group, to carry it forward as the metrics file does. Unreadable,
// pushes leave it out, and the gateway keeps what it has.
func (w *watch) readPushedLastSuccess() {
	if w.pushedRead {
		return
	}
	w.pushedRead = true
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	t, known, err := w.pusher.LastSuccess(ctx, w.cfg.Name, w.cfg.Shard.String())
	if err != nil {
		w.log.Warn().AnErr(keyError, err).Msg("cannot read the last success time from the Pushgateway; pushes leave it as it is")
	}
	w.pushedLastSuccess, w.pushedKnown = t, known
}

// readLastSuccess keeps the previous run's last-success time, so that a run
// that does not succeed leaves it where it was and the alert on its age
// fires. Unreadable, it counts as never: the alert fires rather than stays
// silent.
func (w *watch) readLastSuccess() {
	if w.lastSuccessRead {
		return
	}
	w.lastSuccessRead = true
	t, err := report.ReadLastSuccess(w.cfg.MetricsFile)
	if err != nil {
		w.log.Warn().AnErr(keyError, err).Msg("cannot read the last success time from the metrics file; it restarts from none")
	}
	w.lastSuccess = t
}

func (w *watch) metrics(s progress.Snapshot, exit int) report.Metrics {
	return report.Metrics{
		Version:     Version(),
		Name:        w.cfg.Name,
		Shard:       w.cfg.Shard.String(),
		Rows:        s.Rows,
		InputRows:   s.Total,
		Requests:    s.Requests,
		Retries:     s.Retries,
		Throttled:   s.Stats.Throttled,
		Start:       w.start,
		Duration:    time.Since(w.start),
		ExitCode:    exit,
		LastSuccess: w.lastSuccess,
	}
}

// revokedAll reports whether a run that ended with exit did everything it
// could: 0, or 4, where every valid row is done and only the input's
// invalid rows are left, a data problem. Either moves the last-success
// time, so that the alert on its age pages for live tokens and a sweep that
// did not run, not for a bad row HR sent.
func revokedAll(exit int) bool { return exit == ExitOK || exit == ExitInvalid }

// stoppedEarly reports whether runErr is an error of the run itself, not
// failed or invalid rows, which the counts say.
func stoppedEarly(runErr error) bool {
	return runErr != nil && !errors.Is(runErr, errRows) && !errors.Is(runErr, errInvalid)
}

// snapshot is the meter's final reading; a run refused before it began has
// counted nothing.
func (w *watch) snapshot() progress.Snapshot {
	if w.meter == nil {
		return progress.Snapshot{Total: -1, ETA: -1}
	}
	return w.meter.Snapshot()
}

// finish writes what a run leaves behind for the people and systems that
// judge it, whatever its outcome, and returns runErr, or the error of a
// document that could not be written when the run itself went well. The
// exit_code in every document written is the process's: when a failed write
// changes it, the documents are written again with the new one.
func (w *watch) finish(runErr error) error {
	w.end(false) // a no-op when execute ended the display itself
	end := time.Now()
	snap := w.snapshot()
	if w.cfg.MetricsFile != "" {
		w.readLastSuccess()
	}
	lastSuccess := w.lastSuccess

	final := runErr
	for range 2 {
		exit := exitCodeOf(final)
		var errs []error
		if w.cfg.SummaryFile != "" {
			if err := report.WriteSummary(w.cfg.SummaryFile, w.summary(snap, exit, final, end)); err != nil {
				w.log.Error().AnErr(keyError, err).Msg("cannot write the summary")
				errs = append(errs, err)
			}
		}
		if w.cfg.MetricsFile != "" {
			w.lastSuccess = lastSuccess
			if revokedAll(exit) {
				w.lastSuccess = end
			}
			m := w.metrics(snap, exit)
			m.Duration = end.Sub(w.start)
			if err := report.WriteMetrics(w.cfg.MetricsFile, m); err != nil {
				w.log.Error().AnErr(keyError, err).Msg("cannot write the metrics file")
				errs = append(errs, err)
			}
		}
		if runErr != nil || len(errs) == 0 {
			break
		}
		final = errors.Join(errs...)
		if exitCodeOf(final) == exit {
			break
		}
	}
	exit := exitCodeOf(final)
	if w.endRun != nil {
		if err := w.endRun(end, exit); err != nil {
			w.log.Error().AnErr(keyError, err).Msg("cannot record the end of the run in the sidecar")
		}
	}
	if w.meter != nil { // the run got as far as sending
		var stopped error
		if stoppedEarly(final) {
			stopped = final
		}
		f := newFinished(snap, w.runEnd.Sub(w.runStart), exit, stopped)
		f.EmptyRows = w.emptyRows
		f.log(w.log)
	}
	if w.pusher != nil {
		// A push that fails is a warning: it never changes the exit code.
		w.readPushedLastSuccess()
		if revokedAll(exit) {
			w.pushedLastSuccess, w.pushedKnown = end, true
		}
		m := w.metrics(snap, exit)
		m.Duration = end.Sub(w.start)
		w.push(m)
	}
	if w.human && w.meter != nil {
		if err := report.WriteText(w.screen, w.summary(snap, exit, final, end), w.advice(snap, exit)); err != nil {
			w.log.Warn().AnErr(keyError, err).Msg("cannot print the summary")
		}
	}
	return final
}

func (w *watch) summary(s progress.Snapshot, exit int, runErr error, end time.Time) report.Summary {
	first := w.firstStarted
	if first.IsZero() {
		first = w.start
	}
	r := w.run
	sum := report.Summary{
		Identity:       r.Identity,
		FirstStarted:   first.UTC(),
		Version:        Version(),
		Name:           w.cfg.Name,
		Shard:          w.cfg.Shard.String(),
		Input:          w.cfg.Input,
		OutcomeFile:    w.cfg.Out,
		Start:          w.start,
		End:            end,
		DurationS:      math.Round(end.Sub(w.start).Seconds()*1000) / 1000,
		ExitCode:       exit,
		InputRows:      s.Total,
		EmptyRows:      w.emptyRows,
		Requests:       s.Requests,
		Retries:        s.Retries,
		ConfiguredRate: w.cfg.Rate,
	}
	if stoppedEarly(runErr) {
		sum.Error = runErr.Error()
	}
	sum.SetRows(s.Rows)
	if sending := w.runEnd.Sub(w.runStart).Seconds(); sending > 0 {
		sum.AchievedRate = math.Round(float64(s.Requests)/sending*100) / 100
	}
	sum.Throttled = s.Stats.Throttled
	// The pace the run last held steady; a run too short or too uneven to
	// settle reports the pace it ended at instead.
	sum.SettledRate = s.Stats.SettledRate
	if sum.SettledRate == 0 {
		sum.SettledRate = s.Stats.Rate
	}
	sum.SettledRate = math.Round(sum.SettledRate*100) / 100
	return sum
}

// advice is what the operator can do next, with the exact command: continue
// a run that stopped, or send the failed rows again. Neither command holds
// a secret: the admin token only ever comes from the environment or a file.
func (w *watch) advice(s progress.Snapshot, exit int) []string {
	failed, invalid := s.Rows[revoke.Failed], s.Rows[revoke.Invalid]
	var lines []string
	// --resume checks standard input's content as it checks a file's, so
	// the same rows must come in again.
	sameRows := ""
	if w.cfg.Input == "-" {
		sameRows = ", given the same rows on standard input"
	}
	switch {
	case exit == ExitStopped:
		lines = append(lines, "Continue where it stopped"+sameRows+" (rows already recorded are not sent again):",
			"  "+resumeCommand(w.args, w.cfg.Force, w.cfg.RetryFailed))
	case exit == ExitRows && failed > 0:
		lines = append(lines, fmt.Sprintf("Send the %d failed %s again%s (nothing else is re-sent):", failed, plural(int(failed), "row", "rows"), sameRows),
			"  "+resumeCommand(w.args, w.cfg.Force, true))
	}
	if (exit == ExitRows || exit == ExitInvalid) && invalid > 0 {
		lines = append(lines, fmt.Sprintf("%d invalid %s not sent: the error column of %s says why; fix %s in a new input file.",
			invalid, plural(int(invalid), "row was", "rows were"), w.cfg.Out, plural(int(invalid), "it", "them")))
	}
	return lines
}

// resumeCommand rewrites the arguments of "run" into the command that
// continues the same run: --force dropped (it would erase the outcome file),
// --resume added, --retry-failed added when asked. Everything else, the job
// file and the paths included, stays as the operator gave it.
func resumeCommand(args []string, force, retryFailed bool) string {
	cmd := []string{"bulkrevoke", "run", "--resume"}
	if retryFailed {
		cmd = append(cmd, "--retry-failed")
	}
	droppedForce := false
	for _, a := range args {
		switch name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); {
		case !strings.HasPrefix(a, "-"):
		case name == "force":
			droppedForce = true
			continue
		case name == "resume" || name == "retry-failed":
			continue
		}
		cmd = append(cmd, shellQuote(a))
	}
	if force && !droppedForce {
		// --force came from the job file or the environment, where it
		// would clash with --resume.
		cmd = append(cmd, "--force=false")
	}
	return strings.Join(cmd, " ")
}

// shellQuote makes an argument safe to paste into a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
