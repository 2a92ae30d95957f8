package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

// Issue limits on memory.
const (
	maxGrowthPerRow = 100        // bytes of peak RSS per extra row, 20k to 200k rows
	maxRSSAt200k    = 96_000_000 // bytes: 96 MB, the stricter reading
)

// sized is one run of the binary at one input size.
type sized struct {
	rows int
	res  jobResult
}

// memory measures the peak RSS of the bulkrevoke process by input size:
// unpaced against the fast simulator (the whole hot path: reader, pool,
// client, writer, compaction) and as a dry run (reader, de-duplication,
// writer, compaction: quick enough for millions of rows).
func (h *harness) memory(ctx context.Context, t *table, sc scaled) error {
	var unpaced, dry []sized
	for _, n := range sc.memoryRows {
		input, err := h.tokenInput(n)
		if err != nil {
			return err
		}
		h.progress("memory: unpaced, %d rows", n)
		res, _, err := h.revokeAll(ctx, "memory-unpaced-"+strconv.Itoa(n), fast, input, n, 0,
			"--rate", "0", "--concurrency", strconv.Itoa(h.opts.conns))
		if err != nil {
			return err
		}
		unpaced = append(unpaced, sized{n, res})
	}
	for _, n := range sc.dryRows {
		res, err := h.dryRun(ctx, n, false)
		if err != nil {
			return err
		}
		dry = append(dry, res)
	}
	h.unpacedRuns, h.dryRuns = unpaced, dry

	for _, m := range []struct {
		mode string
		runs []sized
	}{{"--rate 0 --concurrency " + strconv.Itoa(h.opts.conns) + ", fast simulator", unpaced}, {"--dry-run", dry}} {
		for _, r := range m.runs {
			t.add("memory", fmt.Sprintf("peak RSS, %s rows, %s", count(r.rows), m.mode),
				mib(r.res.maxRSSKiB*1024), "-", fmt.Sprintf("%.1fs wall", r.res.wall.Seconds()),
				rssTarget(t, r))
		}
		if len(m.runs) < 2 {
			continue
		}
		a, b := m.runs[0], m.runs[1]
		growth := growthPerRow(a, b)
		t.add("memory", fmt.Sprintf("RSS growth %s → %s rows, %s", count(a.rows), count(b.rows), m.mode),
			fmt.Sprintf("%.0f bytes/row", growth), "-", "-",
			t.verdict(fmt.Sprintf("≤ %d bytes/row", maxGrowthPerRow), growth <= maxGrowthPerRow))
		if len(m.runs) >= 3 && m.runs[len(m.runs)-1].rows < 10_000_000 {
			// Extrapolate to ten million rows from the slope of the two
			// largest runs, where fixed costs matter least.
			a, b := m.runs[len(m.runs)-2], m.runs[len(m.runs)-1]
			slope := growthPerRow(a, b)
			at10M := float64(b.res.maxRSSKiB*1024) + slope*float64(10_000_000-b.rows)
			t.add("memory", fmt.Sprintf("10M rows, extrapolated from %s → %s, %s", count(a.rows), count(b.rows), m.mode),
				mib(int64(at10M)), "-", fmt.Sprintf("slope %.0f bytes/row", slope), "must be processable")
		}
	}
	return nil
}

// find returns the run over n rows, or a zero sized.
func find(runs []sized, n int) sized {
	for _, r := range runs {
		if r.rows == n {
			return r
		}
	}
	return sized{}
}

func growthPerRow(a, b sized) float64 {
	return float64((b.res.maxRSSKiB-a.res.maxRSSKiB)*1024) / float64(b.rows-a.rows)
}

func rssTarget(t *table, r sized) string {
	if r.rows != 200_000 {
		return "-"
	}
	return t.verdict("< 96 MB", r.res.maxRSSKiB*1024 < maxRSSAt200k)
}

// dryRun runs --dry-run over n token rows, from the file (surveyed in
// place) or from standard input (spooled into a private file, then surveyed).
func (h *harness) dryRun(ctx context.Context, n int, fromStdin bool) (sized, error) {
	in, err := h.tokenInput(n)
	if err != nil {
		return sized{}, err
	}
	label, how := "dry-"+strconv.Itoa(n), "file"
	if fromStdin {
		label, how = label+"-stdin", "stdin"
	}
	out, logPath := h.next(label)
	args := []string{"--dry-run", "--out", out, "--force", "--log-format", "json"}
	j := job{logPath: logPath}
	if fromStdin {
		j.args, j.stdin = append(args, "--format", "csv", "-"), in
	} else {
		j.args = append(args, in)
	}
	h.progress("memory: --dry-run, %d rows from %s", n, how)
	res, err := h.runJob(ctx, j)
	if err != nil {
		return sized{}, err
	}
	if err := checkRun(res, n, logPath); err != nil {
		return sized{}, fmt.Errorf("%s: %w", label, err)
	}
	return sized{n, res}, nil
}

// survey measures the pre-run pass over the input (row count for progress,
// SHA-256 for resume checks) against the run it precedes: directly, the way
// the CLI does it, and as the difference between a dry run from the file
// (surveyed in place) and from standard input (spooled first, then surveyed).
func (h *harness) survey(ctx context.Context, t *table, sc scaled) error {
	n := sc.surveyRows
	path, err := h.tokenInput(n)
	if err != nil {
		return err
	}
	h.progress("survey: SHA-256 + input.Count over %d rows", n)
	var direct time.Duration
	for range 3 { // best of three: the page cache is warm for all
		d, err := timeSurvey(path)
		if err != nil {
			return err
		}
		if direct == 0 || d < direct {
			direct = d
		}
	}
	fromFile := find(h.dryRuns, n)
	if fromFile.rows == 0 {
		if fromFile, err = h.dryRun(ctx, n, false); err != nil {
			return err
		}
	}
	fromStdin, err := h.dryRun(ctx, n, true)
	if err != nil {
		return err
	}
	t.add("survey", fmt.Sprintf("survey passes (SHA-256, then input.Count over the file, as the CLI does), %s rows", count(n)),
		fmt.Sprintf("%.2fs", direct.Seconds()), "-", "-", "-")
	t.add("survey", fmt.Sprintf("--dry-run, %s rows: from stdin (spooled, then surveyed) vs the file (surveyed in place)", count(n)),
		fmt.Sprintf("%.2fs from stdin", fromStdin.res.wall.Seconds()),
		fmt.Sprintf("%.2fs from the file", fromFile.res.wall.Seconds()),
		fmt.Sprintf("spooling: %.2f× the run from the file", fromStdin.res.wall.Seconds()/fromFile.res.wall.Seconds()),
		t.verdict("must not double run time", fromStdin.res.wall < 2*fromFile.res.wall))
	if run := find(h.unpacedRuns, n); run.rows != 0 {
		t.add("survey", fmt.Sprintf("survey vs an unpaced run of %s rows (--rate 0 --concurrency %d)", count(n), h.opts.conns),
			fmt.Sprintf("%.2fs survey", direct.Seconds()),
			fmt.Sprintf("%.1fs run, process start to exit", run.res.wall.Seconds()),
			fmt.Sprintf("survey is %.1f%% of the run", 100*direct.Seconds()/run.res.wall.Seconds()),
			t.verdict("must not double run time", direct < run.res.wall))
	} else if h.unpacedRate > 0 {
		// A real run is bound by its requests; at the best unpaced rate
		// measured above, this many rows take at least this long.
		run := time.Duration(float64(n) / h.unpacedRate * float64(time.Second))
		t.add("survey", fmt.Sprintf("survey vs an unpaced run of %s rows", count(n)),
			fmt.Sprintf("%.2fs survey", direct.Seconds()),
			fmt.Sprintf("≥ %.0fs run at %.0f req/s (projected from the peers row)", run.Seconds(), h.unpacedRate),
			fmt.Sprintf("survey is %.1f%% of the run", 100*direct.Seconds()/run.Seconds()),
			t.verdict("must not double run time", direct < run))
	}
	return nil
}

// timeSurvey does what the CLI's openInput does before a run from a regular
// file: a SHA-256 pass and a count pass over one descriptor.
func timeSurvey(path string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("survey: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("survey: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return 0, fmt.Errorf("survey %s: %w", path, err)
	}
	_ = h.Sum(nil)
	if _, err := input.Count(io.NewSectionReader(f, 0, fi.Size()), input.CSV); err != nil {
		return 0, fmt.Errorf("survey %s: %w", path, err)
	}
	return time.Since(start), nil
}

func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// count renders a row count as people say it: 20k, 2M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}
