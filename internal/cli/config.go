// Package cli turns a command line, the environment and standard streams into
// a configured revocation job, runs it, and maps its result to an exit code.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/provider"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Defaults, documented in docs/FLAGS.md and in the usage text.
const (
	DefaultRate        = 25 // requests/s: 1,500 a minute, well under the 4,000 a minute other Concur APIs allow
	DefaultMaxAttempts = revoke.DefaultMaxAttempts
	DefaultTimeout     = endpoint.DefaultTimeout
)

// Config is everything a run needs, gathered from flags and environment.
type Config struct {
	// runID names this process run in every outcome row it writes, every
	// log line, the summary and the sidecar (see newRunID).
	runID string

	Input       string // path, or "-" for standard input
	InputFormat input.Format
	Out         string
	OutFormat   journal.Format
	Force       bool

	Resume            bool
	RetryFailed       bool
	IgnoreInputChange bool

	Rate        float64
	Burst       int
	Concurrency int // 0: the pool sizes itself
	MaxAttempts int
	Timeout     time.Duration

	DryRun    bool
	LogFormat string
	LogLevel  string

	// Provider names who revokes (provider.go); Settings are its own
	// flags' values, checked, with its secret (never logged).
	Provider string
	Settings provider.Settings
	// Sandbox is set when the provider's settings aim the run at a
	// simulator (provider.Simulated: Concur's --sandbox).
	Sandbox bool

	// Watching a run and what it leaves behind (watch.go).
	Progress         string // auto, bar, log or off
	ProgressInterval time.Duration
	SummaryFile      string
	MetricsFile      string

	// Rows says how rows are read from INPUT: column names, the row kind,
	// and the applications of user rows that name none (columns.go).
	Rows input.Options

	// Shard, when not whole, limits the run to the rows of one shard.
	Shard input.Shard
	// MaxDuration is the run's time budget; 0 means none.
	MaxDuration time.Duration

	// Name tells this run's metrics and summary from other runs' (--name):
	// by default the job file's base name, else "bulkrevoke".
	Name string
	// PushURL is the Prometheus Pushgateway to push the metrics to; nil
	// for none.
	PushURL *url.URL
}

// usageError is a command line or configuration that cannot run: exit 2,
// nothing sent.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

const runUsage = `Usage: bulkrevoke run [flags] INPUT

Revokes every token or user/application pair listed in INPUT (a .csv, .jsonl
or .ndjson file, or - for standard input with --format) through Concur's
revoketoken.ashx, and records one outcome per input row in --out.

The administrator's token comes from $CONCUR_ADMIN_TOKEN or --admin-token-file;
it is never accepted as a flag value. With --provider rfc7009 the tokens go to
any OAuth 2.0 Token Revocation endpoint instead, authenticated as the client
they were issued to; its secret comes from $REVOKE_CLIENT_SECRET or
--client-secret-file.

Examples:
  # Try it: a simulated Concur instance on loopback, nothing leaves the machine
  bulkrevoke run --sandbox --force --out outcomes.csv sample-input.csv

  # Offboarding sweep: HR's leavers, every token of theirs for the app
  CONCUR_ADMIN_TOKEN=$(cat /run/secrets/concur) \
    bulkrevoke run --out leavers-outcomes.csv leavers.csv

  # Nightly scheduled run, JSON logs, token from a mounted secret file
  bulkrevoke run --admin-token-file /var/run/secrets/concur/token \
    --out /data/nightly-$(date +%F).jsonl /data/nightly.csv

  # Post-breach mass revocation: fast; resume after any interruption
  bulkrevoke run --rate 60 --concurrency 32 --out breach-outcomes.csv breach.csv
  bulkrevoke run --resume --rate 60 --concurrency 32 --out breach-outcomes.csv breach.csv

  # The same sweep at an RFC 7009 endpoint (Okta here): token rows only
  REVOKE_CLIENT_SECRET=$(cat /run/secrets/okta) bulkrevoke run --provider rfc7009 \
    --revoke-url https://example.okta.com/oauth2/v1/revoke --client-id 0oa1b2c3 \
    --out okta-outcomes.csv okta-tokens.csv

Exit codes: 0 all revoked/not_found/duplicate/dry_run; 1 some row failed (a
token may still be alive); 2 usage or unreadable input, nothing sent; 3
stopped early (credentials rejected, interrupted or --max-duration spent;
resume with --resume); 4 no row failed, but some were invalid (fix the
input).

Flags:
`

// flagValues are the raw flag values that Config derives from.
type flagValues struct {
	format, job string
	// providers are every provider's own flags (provider.go).
	providers *provider.Declared
	// input is --input; pushURL is --push-url, checked in complete.
	input, pushURL string
	// How rows are read (columns.go); layers tells list flags apart by
	// the layer that set them.
	consumerKeys     *listFlag
	consumerKeysFile string
	rowKind          string
	layers           layers
}

// newRunFlags declares the flags of "run", bound to cfg and raw.
func newRunFlags(cfg *Config, raw *flagValues, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bulkrevoke run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&raw.job, "job", "", "read settings from the YAML job file `FILE` (flags and environment override it)")
	fs.StringVar(&cfg.Out, "out", "", "outcome file `PATH`; .csv or .jsonl decides its format (required)")
	fs.StringVar(&raw.format, "format", "", "input format when the extension (.csv, .jsonl, .ndjson) does not say: `csv|jsonl`")
	fs.BoolVar(&cfg.Force, "force", false, "overwrite an existing outcome file")
	fs.BoolVar(&cfg.Resume, "resume", false, "continue the run recorded in --out: rows with a final outcome there are not sent again")
	fs.BoolVar(&cfg.RetryFailed, "retry-failed", false, "with --resume, also re-send rows recorded as failed")
	fs.BoolVar(&cfg.IgnoreInputChange, "ignore-input-change", false, "with --resume, accept an INPUT whose content differs from the one the outcome file was started with")
	fs.Float64Var(&cfg.Rate, "rate", DefaultRate, "most requests per second across all workers, retries included: the job slows down when the server refuses for speed (429, honouring Retry-After) and probes back up, never above this; 0 = unpaced until the server first refuses")
	fs.IntVar(&cfg.Burst, "burst", 1, "rate limiter burst, 1 to one second's worth of --rate")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "requests in flight at once, 1 to 1024 (default: the pool sizes itself to reach --rate at the latency it sees, 4 to 512; 16 while unpaced)")
	fs.IntVar(&cfg.MaxAttempts, "max-attempts", DefaultMaxAttempts, "HTTP requests per row at most, first try included")
	fs.DurationVar(&cfg.Timeout, "timeout", DefaultTimeout, "per request, 1s to 10m")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "read and validate everything, record dry_run outcomes, send nothing")
	fs.StringVar(&cfg.LogFormat, "log-format", "auto", "log format on stderr: json, console, or auto (console on a terminal)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.Progress, "progress", progressAuto, "progress display `auto|bar|log|off`: auto shows a bar on a terminal and logs a progress line every --progress-interval elsewhere")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", DefaultProgressInterval, "how often to log progress and refresh --metrics-file")
	fs.StringVar(&cfg.SummaryFile, "summary", "", "write a JSON summary of the run to `PATH` at the end (also when it stops early)")
	fs.StringVar(&cfg.MetricsFile, "metrics-file", "", "write Prometheus metrics to `PATH` (node-exporter textfile collector, e.g. /var/lib/node_exporter/bulkrevoke.prom), refreshed during the run")
	fs.Var(&cfg.Shard, "shard", "take only shard `I/N` of the input: I counts from 0 (as $JOB_COMPLETION_INDEX); each shard needs its own --out, and --rate is per shard")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 0, "time budget `D`, e.g. 50m: then stop as on a signal (in-flight requests finish and are recorded), exit 3, continue with --resume; 0 = none")
	fs.StringVar(&raw.input, "input", "", "the input file `PATH`, as the INPUT argument (give one or the other, or both the same)")
	fs.StringVar(&cfg.Name, "name", "", "the run's `NAME` in the metrics' name label and the summary (default: the --job file's base name, else bulkrevoke)")
	fs.StringVar(&raw.pushURL, "push-url", "", "push the metrics to the Prometheus Pushgateway at `URL` every --progress-interval and at the end, grouped by job=\"bulkrevoke\", name and shard (https, or http on loopback only); an unreachable gateway is a warning")
	addColumnFlags(fs, cfg, raw)
	addProviderFlags(fs, cfg, raw)
	return fs
}

// parseRun parses the arguments of "run". Flags and the INPUT may come in any
// order. Settings come from, lowest priority first: the --job file, the
// environment (BULKREVOKE_RATE for --rate, and so on), the command line.
func parseRun(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	// A first pass only finds --job, which decides the lowest layer.
	var cfg Config
	var raw flagValues
	probe := newRunFlags(&cfg, &raw, io.Discard)
	if _, err := parseArgs(probe, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			newRunFlags(&cfg, &raw, stderr).Usage()
		}
		return cfg, err
	}
	jobPath := raw.job

	cfg, raw = Config{}, flagValues{}
	fs := newRunFlags(&cfg, &raw, stderr)
	var jobInput string
	if jobPath != "" {
		var err error
		if jobInput, err = applyJobFile(fs, jobPath); err != nil {
			return cfg, &usageError{err}
		}
	}
	raw.layers.n++
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, &usageError{err}
	}
	raw.layers.n++
	// $BULKREVOKE_INPUT is the environment's layer, below the command
	// line's INPUT; --input is the command line's.
	envInput := raw.input
	raw.input = ""
	positional, err := parseArgs(fs, args)
	if err != nil {
		return cfg, err
	}
	switch {
	case len(positional) > 1:
		return cfg, usagef("want exactly one INPUT file (or -), got %d; see bulkrevoke run -h", len(positional))
	case len(positional) == 1 && raw.input != "" && raw.input != positional[0]:
		return cfg, usagef("--input %s and INPUT %s name two inputs: give one", raw.input, positional[0])
	case len(positional) == 1:
		cfg.Input = positional[0]
	case raw.input != "":
		cfg.Input = raw.input
	case envInput != "":
		cfg.Input = envInput
	case jobInput != "":
		cfg.Input = jobInput
	default:
		return cfg, usagef("want exactly one INPUT file (or -), or --input; see bulkrevoke run -h")
	}
	if cfg.Name == "" {
		cfg.Name = defaultName(jobPath)
	}
	if err := checkName(cfg.Name); err != nil {
		return cfg, err
	}
	if raw.pushURL != "" {
		u, err := endpoint.ParseURL(raw.pushURL)
		if err != nil {
			return cfg, &usageError{fmt.Errorf("--push-url: %w", err)}
		}
		cfg.PushURL = u
	}
	// Left out everywhere (flag, environment, job file: each sets the
	// flag), the pool sizes itself; given, it is kept.
	if !given(fs, "concurrency") {
		cfg.Concurrency = 0
	} else if cfg.Concurrency < 1 || cfg.Concurrency > 1024 {
		return cfg, usagef("--concurrency %d: want 1 to 1024, or leave it out and the pool sizes itself", cfg.Concurrency)
	}
	// Before any file is read: an output named over a secret file or the
	// job file must not even be opened.
	if cfg.Out != "" {
		if err := checkDistinct(runPaths(cfg, raw)); err != nil {
			return cfg, err
		}
	}
	if err := cfg.complete(raw.format); err != nil {
		return cfg, err
	}
	if err := cfg.completeRows(raw); err != nil {
		return cfg, err
	}
	return cfg, cfg.completeProvider(fs, raw, getenv)
}

// given reports whether the flag name was set, from any layer.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseArgs parses flags that may stand before or after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{withSuggestion(fs, err)}
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// envName is the environment variable that sets a flag: BULKREVOKE_BASE_URL
// for --base-url.
func envName(flagName string) string {
	return "BULKREVOKE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag whose environment variable is set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || f.Name == "job" {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("$%s: %w", name, e)
			}
		}
	})
	return err
}

// complete checks the parsed values against each other and fills in what
// derives from them.
func (cfg *Config) complete(format string) error {
	switch {
	case format != "":
		cfg.InputFormat = input.Format(strings.ToLower(format))
		if cfg.InputFormat != input.CSV && cfg.InputFormat != input.JSONL {
			return usagef("--format %q: want csv or jsonl", format)
		}
	case cfg.Input == "-":
		return usagef("reading standard input needs --format csv or --format jsonl")
	default:
		f, ok := input.FormatFromPath(cfg.Input)
		if !ok {
			return usagef("cannot tell the format of %s from its extension (.csv, .jsonl, .ndjson); give --format", cfg.Input)
		}
		cfg.InputFormat = f
	}

	if cfg.Out == "" {
		return usagef("--out is required: the outcome file records what happened to every row")
	}
	of, err := journal.FormatOf(cfg.Out)
	if err != nil {
		return &usageError{err}
	}
	cfg.OutFormat = of
	if cfg.Input != "-" && sameFile(cfg.Input, cfg.Out) {
		return usagef("--out %s is the input file", cfg.Out)
	}
	if cfg.Resume && cfg.Force {
		return usagef("--resume continues the outcome file and --force overwrites it: choose one")
	}
	if cfg.RetryFailed && !cfg.Resume {
		return usagef("--retry-failed only makes sense with --resume")
	}

	if err := cfg.checkBounds(); err != nil {
		return err
	}
	if cfg.MaxDuration < 0 {
		return usagef("--max-duration %v: want 0 (no budget) or a positive duration", cfg.MaxDuration)
	}
	switch cfg.LogFormat {
	case "auto", "json", "console":
	default:
		return usagef("--log-format %q: want json, console or auto", cfg.LogFormat)
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return usagef("--log-level %q: want debug, info, warn or error", cfg.LogLevel)
	}

	return cfg.checkWatch()
}

// Bounds of the numeric settings: values outside them cannot be meant, and
// each would harm a production run (a rate that never sends the next row, a
// burst that floods the instance, progress lines by the thousand).
const (
	MinRate             = 0.01 // requests/s: one request every 100 s
	MinTimeout          = time.Second
	MaxTimeout          = 10 * time.Minute
	MinProgressInterval = time.Second
	MaxProgressInterval = 24 * time.Hour
)

// minProgressInterval is MinProgressInterval, a variable only so that this
// package's tests can watch many intervals in a short run (TestMain).
var minProgressInterval = MinProgressInterval

// checkBounds refuses numeric settings outside their range, saying the
// range.
func (cfg *Config) checkBounds() error { return cfg.checkBoundsWith(minProgressInterval) }

func (cfg *Config) checkBoundsWith(minProgressInterval time.Duration) error {
	if !(cfg.Rate >= 0) || math.IsInf(cfg.Rate, 1) || (cfg.Rate > 0 && cfg.Rate < MinRate) { // NaN fails every comparison
		return usagef("--rate %v: want 0 (unpaced until the server first refuses) or a rate of at least %v requests/s (one every %v s)", cfg.Rate, MinRate, 1/MinRate)
	}
	// A burst is the requests the limiter lets out at once; more than one
	// second's worth of --rate would send above --rate.
	if maxBurst := max(1, int(math.Floor(cfg.Rate))); cfg.Burst < 1 || cfg.Burst > maxBurst {
		return usagef("--burst %d: want 1 to %d, at most one second's worth of --rate %v", cfg.Burst, maxBurst, cfg.Rate)
	}
	if cfg.MaxAttempts < 1 || cfg.MaxAttempts > 100 {
		return usagef("--max-attempts %d: want 1 to 100", cfg.MaxAttempts)
	}
	if cfg.Timeout < MinTimeout || cfg.Timeout > MaxTimeout {
		return usagef("--timeout %v: want %v to %v", cfg.Timeout, MinTimeout, MaxTimeout)
	}
	if cfg.ProgressInterval < minProgressInterval || cfg.ProgressInterval > MaxProgressInterval {
		return usagef("--progress-interval %v: want %v to %v", cfg.ProgressInterval, minProgressInterval, MaxProgressInterval)
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}
