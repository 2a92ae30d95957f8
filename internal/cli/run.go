package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Exit codes, the contract with scripts and schedulers.
const (
	ExitOK      = 0 // every row revoked, not_found, duplicate or dry_run
	ExitRows    = 1 // some row failed or was invalid
	ExitUsage   = 2 // bad flags, configuration or input: nothing was sent
	ExitStopped = 3 // stopped early: credentials rejected, interrupted, or broken infrastructure
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
)

// errRows marks a run that finished with failed or invalid rows.
var errRows = errors.New("some rows failed or were invalid")

// Main runs the command line and returns the process exit code. Everything
// the process touches comes in as arguments, so tests drive it directly.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return exitCode(run(ctx, args, getenv, stdin, stdout, stderr), stderr)
}

// exitCode maps the error of run to the exit code, and tells stderr what
// went wrong and what to do next. With io.Discard it only classifies.
func exitCode(err error, stderr io.Writer) int {
	var usage *usageError
	var fatal *revoke.FatalError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, errRows):
		return ExitRows
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "bulkrevoke: %v\n", err)
		return ExitUsage
	case errors.As(err, &fatal):
		fmt.Fprintf(stderr, "bulkrevoke: stopped: %v\nNothing more was sent. Fix that, then continue with --resume: it sends the rows not recorded.\n", err)
		return ExitStopped
	case errors.Is(err, revoke.ErrStopped):
		fmt.Fprintf(stderr, "bulkrevoke: %v; continue with --resume\n", err)
		return ExitStopped
	default:
		fmt.Fprintf(stderr, "bulkrevoke: %v\n", err)
		return ExitStopped
	}
}

const topUsage = `Usage: bulkrevoke <command> [flags]

Commands:
  run       revoke the tokens listed in a file (bulkrevoke run -h)
  version   print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "run":
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
		return err
	}
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
	log := newLogger(cfg, stderr, watch.screen)
	watch.log = log
	return watch.finish(execute(ctx, cfg, stdin, watch, log))
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
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// execute runs a parsed configuration: opens the input, the outcome file
// and the instance, then hands rows to the pool.
func execute(ctx context.Context, cfg Config, stdin io.Reader, watch *watch, log zerolog.Logger) error {
	// The budget is a window of wall time, so it counts from here, the
	// survey of the input included.
	ctx, budgetSpent, releaseBudget := withBudget(ctx, cfg.MaxDuration, log)
	defer releaseBudget()

	src, closeInput, err := openInput(cfg, stdin)
	if err != nil {
		return err
	}
	defer closeInput()

	var total int64 = -1
	var inputSum string
	if cfg.Input != "-" {
		if total, inputSum, err = surveyInput(cfg); err != nil {
			return &usageError{err}
		}
	}

	revoker, host, stopInstance, err := instance(cfg)
	if err != nil {
		return err
	}
	defer stopInstance()

	// The outcome file last: a run refused before this leaves none behind.
	journal, err := openJournal(cfg, inputSum)
	if err != nil {
		return err
	}
	w := journal.writer
	defer w.Close()

	pool := revoke.New(revoke.Config{
		Revoker:     revoker,
		Rate:        cfg.Rate, // the ceiling: the pool paces itself below it
		Burst:       cfg.Burst,
		Concurrency: cfg.Concurrency, // 0: the pool sizes itself
		MaxAttempts: cfg.MaxAttempts,
		DryRun:      cfg.DryRun,
		Skip:        journal.skip,
		Logger:      log,
	})

	log.Info().Str("input", cfg.Input).Int64("rows", total).Str("out", cfg.Out).
		Float64("rate", cfg.Rate).Int("concurrency", cfg.Concurrency).Str("provider", cfg.Provider).Str("instance", host).
		Bool("dry_run", cfg.DryRun).Bool("resume", cfg.Resume).Int64("already_recorded", journal.recorded).
		Str("shard", cfg.Shard.String()).Str("max_duration", cfg.MaxDuration.String()).
		Msg("starting")

	var tally report.Tally
	// Every row reaches the OS as it is written, so a killed process loses
	// nothing; each is synced within a second, so a machine crash loses at
	// most the last second of rows.
	syncs := newSyncer(w, time.Second)
	record := func(o revoke.Outcome) error {
		if err := syncs.write(o); err != nil {
			return fmt.Errorf("write outcome file %s: %w", cfg.Out, err)
		}
		tally.Add(o)
		watch.add(o)
		logOutcome(log, o)
		return nil
	}

	watch.begin(total, pool.Stats)
	start := time.Now()
	runErr := pool.Run(ctx, revoke.CheckRows(shardRows(src, cfg.Shard), rowCheck(cfg)), record)
	if budgetSpent() && errors.Is(runErr, revoke.ErrStopped) {
		runErr = fmt.Errorf("time budget (--max-duration %v) spent: %w", cfg.MaxDuration, runErr)
	}
	elapsed := time.Since(start)
	watch.end(runErr == nil)
	if err := syncs.stop(); err != nil && runErr == nil {
		runErr = fmt.Errorf("sync outcome file %s: %w", cfg.Out, err)
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close outcome file %s: %w", cfg.Out, err)
	}
	stats := pool.Stats()
	summary := log.Info()
	if runErr != nil {
		summary = log.Error().AnErr(keyError, runErr)
	}
	dict := zerolog.Dict()
	for _, s := range report.Statuses() {
		dict.Int64(string(s), tally.ByStatus[s])
	}
	summary.Dict("rows", dict).Int64("requests", stats.Requests).Int64("retries", stats.Retries).
		Int64("throttled", stats.Throttled).Int64("unrecorded_requests", stats.Unrecorded).Int64("probe_requests", stats.Probes).
		Int64("skipped", stats.Skipped).Int64("duration_ms", elapsed.Milliseconds()).
		Float64("achieved_rate", float64(stats.Requests)/max(elapsed.Seconds(), 1e-9)).
		Float64("settled_rate", math.Round(stats.SettledRate*10)/10).Float64("final_rate", stats.Rate).
		Int("peak_in_flight", stats.PeakInFlight).
		Msg("finished")
	if runErr != nil {
		return runErr
	}

	// The run is complete: sort the journal by line and, after resumes and
	// retries, keep only the latest outcome of each row.
	if err := report.Compact(cfg.Out); err != nil {
		return fmt.Errorf("compact outcome file: %w", err)
	}
	if cfg.Resume {
		// Earlier runs' outcomes count for the exit code too.
		tally = report.Tally{}
		if _, err := report.ReadJournal(cfg.Out, func(o revoke.Outcome) error { tally.Add(o); return nil }); err != nil {
			return fmt.Errorf("re-read outcome file: %w", err)
		}
	}
	if tally.ByStatus[revoke.Failed]+tally.ByStatus[revoke.Invalid] > 0 {
		return errRows
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

// openInput opens INPUT and checks its header, before anything is sent.
func openInput(cfg Config, stdin io.Reader) (*input.Reader, func(), error) {
	var r io.Reader = stdin
	closer := func() {}
	if cfg.Input != "-" {
		f, err := os.Open(cfg.Input)
		if err != nil {
			return nil, nil, &usageError{fmt.Errorf("open input: %w", err)}
		}
		r, closer = f, func() { f.Close() }
	}
	src, err := input.Open(r, cfg.InputFormat)
	if err != nil {
		closer()
		return nil, nil, &usageError{fmt.Errorf("input %s: %w", cfg.Input, err)}
	}
	return src, closer, nil
}

// surveyInput reads the input file once ahead of the run, for the number of
// rows this run takes (progress: the shard's rows with --shard) and a SHA-256
// of the file's content (resume checks).
func surveyInput(cfg Config) (rows int64, sum string, err error) {
	f, err := os.Open(cfg.Input)
	if err != nil {
		return 0, "", fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	rows, err = input.CountShard(io.TeeReader(f, h), cfg.InputFormat, cfg.Shard)
	if err != nil {
		return 0, "", fmt.Errorf("read input %s: %w", cfg.Input, err)
	}
	// Count may stop before the end; hash the rest so the sum is the file's.
	if _, err := io.Copy(h, f); err != nil {
		return 0, "", fmt.Errorf("read input %s: %w", cfg.Input, err)
	}
	return rows, hex.EncodeToString(h.Sum(nil)), nil
}

// instance returns what sends the requests: the RFC 7009 client, or the
// Concur client aimed at the real instance or at a simulator started here
// for --sandbox.
func instance(cfg Config) (revoke.Revoker, string, func(), error) {
	baseURL, token, stop := cfg.BaseURL, cfg.AdminToken, func() {}
	if cfg.DryRun {
		return nil, "none (dry run)", stop, nil // the pool sends nothing
	}
	if cfg.Provider == ProviderRFC7009 {
		return rfc7009Instance(cfg)
	}
	if cfg.Sandbox {
		token = randomToken()
		srv, err := sim.Start(sim.Config{
			AdminToken: token,
			Live:       true,
			Latency:    10 * time.Millisecond,
			Jitter:     20 * time.Millisecond,
			// Maintenance 503s on a few requests show retries; a limit
			// like a real API's shows the pacer finding it when --rate is
			// set above it. Random 429s would not: a real server throttles
			// for speed, and the pacer answers every 429 by slowing down.
			Fault:     sandboxFaults,
			RateLimit: sandboxRateLimit,
			Seed:      time.Now().UnixNano(),
		})
		if err != nil {
			return nil, "", nil, fmt.Errorf("start sandbox: %w", err)
		}
		baseURL, stop = srv.URL(), srv.Close
	}
	client, err := concur.New(concur.Config{
		BaseURL:    baseURL,
		AdminToken: token,
		UserParam:  cfg.UserParam,
		UserAgent:  "bulkrevoke/" + Version(),
		Timeout:    cfg.Timeout,
		HTTPClient: newHTTPClient(cfg),
	})
	if err != nil {
		stop()
		return nil, "", nil, &usageError{err}
	}
	return client, baseURL.Host, stop, nil
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

// sandboxRateLimit is the simulated instance's limit, in requests/s.
const sandboxRateLimit = 100

// sandboxFaults answers about one request in twelve with a 503.
func sandboxFaults(int64, *http.Request) sim.Fault {
	if mrand.IntN(12) == 0 {
		return sim.Status503
	}
	return sim.None
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "sandbox-" + hex.EncodeToString(b)
}

// Version is stamped at build time with
// -ldflags "-X github.com/bulkrevoke/bulkrevoke/internal/cli.version=v1.2.3".
var version = ""

// Version returns the stamped version, else "dev".
func Version() string {
	if version != "" {
		return strings.TrimSpace(version)
	}
	return "dev"
}
