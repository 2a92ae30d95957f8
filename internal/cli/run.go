package cli

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/audit"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Exit codes, the contract with scripts and schedulers. 1 and 4 differ in
// who acts: a failed row may leave a token alive (page someone), an invalid
// row is a data problem (tell whoever wrote the input).
const (
	ExitOK      = 0 // every row revoked, not_found, duplicate or dry_run
	ExitRows    = 1 // some row failed: a token may still be alive
	ExitUsage   = 2 // bad flags, configuration or input: nothing was sent
	ExitStopped = 3 // stopped early: credentials rejected, interrupted, or broken infrastructure
	ExitInvalid = 4 // no row failed, but some were invalid: a data problem
)

// Log keys, shared so that logs can be queried by them.
const (
	keyLine     = "line"
	keyKind     = "kind"
	keyTarget   = "target"
	keyStatus   = "status"
	keyHTTP     = "http_status"
	keyAttempts = "attempts"
	keyError    = "error"
	keyCorrID   = "correlation_id"
	keyExitCode = "exit_code"
	// keyInputRows is the input's row count (the shard's with --shard),
	// wherever a line holds it: starting and progress.
	keyInputRows = "input_rows"
	keyRunID     = "run_id"
)

// errRows marks a run that finished with failed rows, errInvalid one whose
// only trouble was invalid rows.
var (
	errRows    = errors.New("some rows failed")
	errInvalid = errors.New("some rows were invalid")
)

// Main runs the command line and returns the process exit code. Everything
// the process touches comes in as arguments, so tests drive it directly.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	var end ending
	err := run(ctx, args, getenv, stdin, stdout, stderr, &end)
	code := exitCodeOf(err)
	end.tell(stderr, err, code)
	return code
}

// exitCodeOf maps the error of run to the exit code.
func exitCodeOf(err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errRows):
		return ExitRows
	case errors.Is(err, errInvalid):
		return ExitInvalid
	case errors.As(err, &usage):
		return ExitUsage
	default:
		return ExitStopped
	}
}

// ending tells stderr how the run ended: in JSON log mode as one
// error-level JSON line, so that every line on stderr is JSON; else as a
// line for a person. json is set once the log format is known; log once
// the logger exists.
type ending struct {
	json  bool
	log   *zerolog.Logger
	runID string
}

// tell says what went wrong and what to do next. Failed or invalid rows
// are not an error of the run: the summary and the row warnings say them.
func (e *ending) tell(stderr io.Writer, err error, code int) {
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, errRows) || errors.Is(err, errInvalid) {
		return
	}
	var fatal *revoke.FatalError
	next := ""
	switch {
	case code == ExitUsage:
	case errors.As(err, &fatal):
		next = "nothing more was sent; fix that, then continue with --resume: it sends the rows not recorded"
	case errors.Is(err, revoke.ErrStopped):
		next = "continue with --resume"
	}
	if e.json {
		log := e.log
		if log == nil {
			c := zerolog.New(zerolog.SyncWriter(stderr)).With().Timestamp()
			if e.runID != "" {
				c = c.Str(keyRunID, e.runID)
			}
			l := c.Logger()
			log = &l
		}
		msg := "refused before sending anything"
		if code != ExitUsage {
			msg = "stopped early"
			if next != "" {
				msg += ": " + next
			}
		}
		// WithLevel, not Error: the process's last word is written
		// whatever --log-level says.
		log.WithLevel(zerolog.ErrorLevel).AnErr(keyError, err).Int(keyExitCode, code).Msg(msg)
		return
	}
	switch {
	case errors.As(err, &fatal):
		fmt.Fprintf(stderr, "bulkrevoke: stopped: %v\nNothing more was sent. Fix that, then continue with --resume: it sends the rows not recorded.\n", err)
	case next != "":
		fmt.Fprintf(stderr, "bulkrevoke: %v; %s\n", err, next)
	default:
		fmt.Fprintf(stderr, "bulkrevoke: %v\n", err)
	}
}

const topUsage = `Usage: bulkrevoke <command> [flags]

Commands:
  run       revoke the tokens listed in a file (bulkrevoke run -h)
  report    merge outcome files, check they cover the input, write the incident record (bulkrevoke report -h)
  lookup    print the outcome rows of tokens read on standard input (bulkrevoke lookup -h)
  version   print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer, end *ending) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "run":
	case "report":
		return runReport(args[1:], stdout, stderr)
	case "lookup":
		return runLookup(args[1:], stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "bulkrevoke %s\n", Version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return nil
	default:
		fmt.Fprint(stderr, topUsage)
		return usagef("unknown command %q", args[0])
	}
	cfg, err := parseRun(args[1:], getenv, stderr)
	if err != nil {
		// The configuration is unusable, so JSON only if it was asked
		// for in so many words, on the command line, in the environment
		// or in the job file.
		end.json = cfg.LogFormat == "json" || askedForJSON(args[1:], getenv)
		return err
	}
	// From here the log format is known: a refusal below is in it too.
	end.json = !consoleLogs(cfg, stderr)
	cfg.runID = newRunID()
	end.runID = cfg.runID
	// One run per outcome file, from before its first byte is written to
	// after its summary: a run refused here writes nothing at all, not even
	// a summary, since the files named belong to the run that holds them.
	release, err := lockRun(cfg)
	if err != nil {
		return err
	}
	defer release()
	if err := probeOutputs(cfg); err != nil {
		return err
	}
	watch := newWatch(cfg, args[1:], stderr)
	watch.run = newRunRecord(cfg, args[1:], watch.start)
	log := newLogger(cfg, stderr, watch.screen)
	watch.log = log
	end.log = &log
	return watch.finish(execute(ctx, cfg, stdin, watch, log))
}

// askedForJSON reports whether the job file, the environment or the
// arguments ask for JSON logs, with their usual priority, for a command
// line too broken to parse.
func askedForJSON(args []string, getenv func(string) string) bool {
	format := ""
	if job, ok := argValue(args, "job"); ok && job != "" {
		var c Config
		var raw flagValues
		fs := newRunFlags(&c, &raw, io.Discard)
		if _, err := applyJobFile(fs, job); err == nil && given(fs, "log-format") {
			format = c.LogFormat
		}
	}
	if v := getenv(envName("log-format")); v != "" {
		format = v
	}
	if v, ok := argValue(args, "log-format"); ok {
		format = v
	}
	return format == "json"
}

// argValue finds the last value of the flag name in args, in any of the
// forms the flag package accepts (-name v, --name v, -name=v, --name=v).
func argValue(args []string, name string) (value string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		flagName, v, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || flagName != name {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				break
			}
			i++
			v = args[i]
		}
		value, ok = v, true
	}
	return value, ok
}

// newLogger logs to out (the screen, which keeps log lines off the progress
// bar) in the format that suits stderr.
func newLogger(cfg Config, stderr, out io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	// Workers log too; one line must never interleave with another.
	w := zerolog.SyncWriter(out)
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "auto" {
		f, ok := stderr.(*os.File)
		console = ok && isatty.IsTerminal(f.Fd())
	}
	if console {
		w = zerolog.SyncWriter(zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly})
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str(keyRunID, cfg.runID).Logger()
}

// execute runs a parsed configuration: opens the input, the outcome file
// and the instance, then hands rows to the pool.
func execute(ctx context.Context, cfg Config, stdin io.Reader, watch *watch, log zerolog.Logger) error {
	// The budget is a window of wall time, so it counts from here, the
	// survey of the input included.
	ctx, releaseBudget := withBudget(ctx, cfg.MaxDuration)
	defer releaseBudget()

	in, err := openInput(cfg, stdin)
	if err != nil {
		return err
	}
	defer in.close()
	src, total, inputSum := in.rows, in.total, in.sum

	inst, err := open(cfg)
	if err != nil {
		return err
	}
	defer inst.Close()
	revoker, host := inst.Revoker, inst.Host

	watch.run.Instance, watch.run.InputSHA256 = host, inputSum
	// The outcome file last: a run refused before this leaves none behind.
	ledger, err := openJournal(cfg, inputSum, in.lines, watch.run)
	if err != nil {
		return err
	}
	watch.firstStarted = audit.CampaignStart(ledger.meta.Runs)
	w := ledger.writer
	defer w.Close()

	pool := revoke.New(revoke.Config{
		Revoker:     revoker,
		Rate:        cfg.Rate, // the ceiling: the pool paces itself below it
		Burst:       cfg.Burst,
		Concurrency: cfg.Concurrency, // 0: the pool sizes itself
		MaxAttempts: cfg.MaxAttempts,
		DryRun:      cfg.DryRun,
		Skip:        ledger.skip,
		Logger:      log,
	})
	// How this run ended goes into the sidecar's list once the exit code
	// is known (watch.finish), whatever happens from here.
	watch.endRun = func(ended time.Time, exit int) error {
		return ledger.endRun(cfg, ended, exit, pool.Stats().Requests, watch.snapshot().RunRows)
	}

	log.Info().Str("input", cfg.Input).Int64(keyInputRows, total).Str("out", cfg.Out).
		Float64("rate", cfg.Rate).Int("concurrency", cfg.Concurrency).Str("provider", cfg.Provider).Str("instance", host).
		Bool("dry_run", cfg.DryRun).Bool("resume", cfg.Resume).Int64("already_recorded", ledger.recorded).
		Str("shard", cfg.Shard.String()).Str("max_duration", cfg.MaxDuration.String()).
		Msg("starting")

	// Every row reaches the OS as it is written, so a killed process loses
	// nothing; each is synced within a second, so a machine crash loses at
	// most the last second of rows.
	syncs := journal.NewSyncer(w, time.Second)
	record := func(o revoke.Outcome) error {
		o.RunID = cfg.runID
		if err := syncs.Write(o); err != nil {
			return fmt.Errorf("write outcome file %s: %w", cfg.Out, err)
		}
		watch.add(o)
		logOutcome(log, o)
		return nil
	}

	watch.emptyRows = in.empty
	watch.begin(total, pool.Stats)
	stopAcked := acknowledgeStop(ctx, cfg, pool.Stats, watch, log)
	runErr := pool.Run(ctx, revoke.CheckRows(shardRows(src, cfg.Shard), rowCheck(revoker, cfg.Settings)), record)
	stopAcked()
	runErr = nameTheCause(ctx, runErr)
	watch.end(runErr == nil)
	if err := syncs.Stop(); err != nil && runErr == nil {
		runErr = fmt.Errorf("sync outcome file %s: %w", cfg.Out, err)
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close outcome file %s: %w", cfg.Out, err)
	}
	if runErr != nil {
		return runErr
	}

	// The run is complete: sort the journal by line and, after resumes and
	// retries, keep only the latest outcome of each row.
	if err := journal.Compact(cfg.Out); err != nil {
		return fmt.Errorf("compact outcome file: %w", err)
	}
	byStatus := watch.snapshot().RunRows
	if cfg.Resume {
		// Earlier runs' outcomes count for the exit code too.
		var tally report.Tally
		if _, err := journal.Read(cfg.Out, func(o revoke.Outcome) error { tally.Add(o); return nil }); err != nil {
			return fmt.Errorf("re-read outcome file: %w", err)
		}
		byStatus = tally.ByStatus
	}
	switch {
	case byStatus[revoke.Failed] > 0:
		return errRows
	case byStatus[revoke.Invalid] > 0:
		return errInvalid
	}
	return nil
}

func logOutcome(log zerolog.Logger, o revoke.Outcome) {
	ev := log.Debug()
	if o.Status == revoke.Failed || o.Status == revoke.Invalid {
		ev = log.Warn()
	}
	if !ev.Enabled() {
		return
	}
	ev.Int64(keyLine, o.Line).Str(keyKind, string(o.Kind)).Str(keyTarget, o.Target).
		Str(keyStatus, string(o.Status)).Int(keyHTTP, o.HTTPStatus).Int(keyAttempts, o.Attempts).
		Str(keyError, o.Error).Str(keyCorrID, o.CorrelationID).Msg("row")
}

// openedInput is INPUT, surveyed and open for the run.
type openedInput struct {
	rows *input.Reader
	// total is the number of rows this run takes (the shard's with
	// --shard), for progress; sum is the SHA-256 of the content, for
	// --resume's check that INPUT is the file the outcome file was started
	// from.
	total int64
	sum   string
	// empty is the number of rows of empty cells in INPUT: no rows, but
	// counted in the finished line and the summary (empty_rows).
	empty int64
	// lines holds the line of every row this run takes, with --resume.
	lines *journal.LineSet
	close func()
}

// openInput opens INPUT, surveys it and checks its header, before anything
// is sent.
//
// Every byte of INPUT is read from the source once. A regular file is
// surveyed through the descriptor the run then reads, so the sum and the
// count are of the bytes the run sees. Anything else (standard input, a
// FIFO, /dev/stdin, bash's <(…), a character device) can be read only once,
// so it is first copied into a private spool file (see spoolInput), which
// the survey and the run then read instead.
func openInput(cfg Config, stdin io.Reader) (*openedInput, error) {
	var f *os.File
	var size int64
	var sum string
	var done func()
	var err error
	if cfg.Input == "-" {
		f, size, sum, done, err = spoolInput(stdin, spoolDir(cfg))
		if err != nil {
			return nil, &usageError{fmt.Errorf("input %s (standard input): %w", cfg.Input, err)}
		}
	} else {
		src, err := os.Open(cfg.Input)
		if err != nil {
			return nil, &usageError{fmt.Errorf("open input: %w", err)}
		}
		fi, err := src.Stat()
		switch {
		case err != nil:
			src.Close()
			return nil, &usageError{fmt.Errorf("open input: %w", err)}
		case fi.Mode().IsRegular():
			f, size, done = src, fi.Size(), func() { src.Close() }
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
				done()
				return nil, &usageError{fmt.Errorf("read input %s: %w", cfg.Input, err)}
			}
			sum = hex.EncodeToString(h.Sum(nil))
		default:
			f, size, sum, done, err = spoolInput(src, spoolDir(cfg))
			src.Close()
			if err != nil {
				return nil, &usageError{fmt.Errorf("input %s (%s, read once): %w", cfg.Input, ownfile.ModeText(fi.Mode()), err)}
			}
		}
	}
	fail := func(err error) (*openedInput, error) {
		done()
		return nil, &usageError{err}
	}
	// Every reader gets its own section: they share no file offset, and
	// none reads past the size surveyed, even if the file grows meanwhile.
	// A resumed outcome file may hold rows only for the lines this run's
	// rows start on: one bit a line, and only when resuming.
	var lines *journal.LineSet
	var each func(int64)
	if cfg.Resume {
		lines = &journal.LineSet{}
		each = lines.Add
	}
	total, empty, err := input.Survey(io.NewSectionReader(f, 0, size), cfg.InputFormat, cfg.Shard, cfg.Rows, each)
	if err != nil {
		return fail(fmt.Errorf("read input %s: %w", cfg.Input, err))
	}
	rows, err := input.OpenOptions(io.NewSectionReader(f, 0, size), cfg.InputFormat, cfg.Rows)
	if err != nil {
		return fail(fmt.Errorf("input %s: %w", cfg.Input, err))
	}
	return &openedInput{rows: rows, total: total, empty: empty, sum: sum, lines: lines, close: done}, nil
}

// rootCAs, when set, replaces the system's CA certificates. Only tests set
// it, to trust a CA of their own; operators use SSL_CERT_FILE or
// SSL_CERT_DIR, which the system's pool honours.
var rootCAs *x509.CertPool

// newHTTPClient is the client every provider sends through.
func newHTTPClient(cfg Config) *http.Client {
	hc := endpoint.NewHTTPClient(connections(cfg.Concurrency))
	if rootCAs != nil {
		hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = rootCAs
	}
	return hc
}

// connections sizes the HTTP client's idle pool: one connection per row in
// flight, as many as a self-sizing pool may grow to.
func connections(concurrency int) int {
	if concurrency == 0 {
		return revoke.MaxAutoConcurrency
	}
	return concurrency
}

// Version is stamped at build time with
// -ldflags "-X github.com/bulkrevoke/bulkrevoke/internal/cli.version=v1.2.3".
var version = ""

// Version returns the stamped version; else what the Go toolchain recorded
// in the binary (see versionFromBuild); else "dev".
func Version() string {
	if v := strings.TrimSpace(version); v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := versionFromBuild(bi); v != "" {
			return v
		}
	}
	return "dev"
}

// versionFromBuild is the version a plain go build records: the module's
// version when it has one (go install ...@v1.2.3, or a pseudo-version
// derived from the VCS since Go 1.24, +dirty included), else the first 12
// hex digits of the VCS revision, plus "+dirty" when the work tree had
// changes. "" when the build recorded neither (go run, go test).
func versionFromBuild(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
