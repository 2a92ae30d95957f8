// Command bench measures the real bulkrevoke binary against its peers on
// loopback and prints one table: unpaced throughput against wrk and against
// the xargs+curl loop a user would write instead, rate accuracy, adaptive
// pacing against a rate-limited server, latency-bound runs, peak memory by
// input size, and the cost of the pre-run survey of the input.
//
// It starts the Concur simulator in this process, builds the binary once
// into a temporary directory, generates its inputs there and removes them
// afterwards. Nothing leaves the machine.
//
//	go run ./bench            # the full table (a few minutes)
//	go run ./bench -smoke     # a tiny version of every row (seconds), for CI
//
// Ratios, not absolute numbers, are the headline: the machine is shared.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if result := os.Getenv(spawnEnv); result != "" {
		os.Exit(spawn(result, os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// sections are the groups of rows, in the order they are run and printed.
var sections = []string{"peers", "rate", "adaptive", "latency", "memory", "survey"}

// options are the harness's flags.
type options struct {
	smoke   bool
	huge    bool
	only    map[string]bool
	conns   int
	repeat  int
	keep    bool
	workDir string
	args    []string // as given, for the table's header
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	var only string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.smoke, "smoke", getenv("BENCH_SMOKE") != "", "run a tiny version of every row (seconds), to prove the harness works (also $BENCH_SMOKE)")
	fs.BoolVar(&o.huge, "huge", false, "also dry-run ten million rows (a 420 MB input; about a minute)")
	fs.StringVar(&only, "only", "", "comma-separated `sections` to run, of: "+strings.Join(sections, ","))
	fs.IntVar(&o.conns, "conns", 64, "connections for the unpaced comparisons: wrk -c, bulkrevoke --concurrency, xargs -P")
	fs.IntVar(&o.repeat, "repeat", 2, "run each unpaced comparison this many times, alternating, and keep each side's best")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (inputs, outcome files, logs) and print where it is")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.args = args
	if o.conns < 1 || o.conns > 1024 {
		return o, fmt.Errorf("-conns %d: want 1 to 1024", o.conns)
	}
	if o.repeat < 1 {
		return o, fmt.Errorf("-repeat %d: want 1 or more", o.repeat)
	}
	if o.smoke {
		o.repeat = 1
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		known := false
		for _, k := range sections {
			known = known || k == s
		}
		if !known {
			return o, fmt.Errorf("-only %q: want some of %s", s, strings.Join(sections, ","))
		}
		o.only[s] = true
	}
	return o, nil
}

func (o options) runs(section string) bool { return len(o.only) == 0 || o.only[section] }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	if o.workDir, err = os.MkdirTemp("", "bulkrevoke-bench-"); err != nil {
		return fmt.Errorf("make work directory: %w", err)
	}
	if o.keep {
		defer fmt.Fprintf(stderr, "bench: work directory kept: %s\n", o.workDir)
	} else {
		defer os.RemoveAll(o.workDir)
	}

	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	progress("building bulkrevoke")
	bin, err := buildBinary(ctx, o.workDir)
	if err != nil {
		return err
	}
	h := &harness{opts: o, bin: bin, progress: progress}
	// The least peak RSS any spawned command can report (see spawnEnv).
	floor, err := h.spawn(ctx, []string{"/bin/true"}, os.Environ(), "", nil, 0)
	if err != nil {
		return fmt.Errorf("measure the RSS floor: %w", err)
	}
	h.rssFloorKiB = floor.maxRSSKiB
	scale := sizes(o.smoke)
	if o.huge && !o.smoke {
		scale.dryRows = append(scale.dryRows, 10_000_000)
	}

	t := &table{smoke: o.smoke}
	steps := []struct {
		section string
		run     func(context.Context, *table, scaled) error
	}{
		{"peers", h.peers},
		{"rate", h.rateAccuracy},
		{"adaptive", h.adaptive},
		{"latency", h.latencyBound},
		{"memory", h.memory},
		{"survey", h.survey},
	}
	for _, s := range steps {
		if !o.runs(s.section) {
			continue
		}
		if err := s.run(ctx, t, scale); err != nil {
			t.write(stdout)
			return fmt.Errorf("%s: %w", s.section, err)
		}
	}
	fmt.Fprintf(stdout, "%s\n\n", h.header(scale))
	t.write(stdout)
	return nil
}
