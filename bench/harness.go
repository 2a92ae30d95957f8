package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// harness runs the measurements and knows where things are.
type harness struct {
	opts     options
	bin      string
	progress func(format string, args ...any)
	seq      int
	inputs   map[string]string // generated inputs by name, reused across rows

	// Figures one section leaves for another: the best unpaced rate (peers)
	// and the unpaced and dry runs by size (memory), all used by survey.
	unpacedRate float64
	unpacedRuns []sized
	dryRuns     []sized
	// rssFloorKiB is the peak RSS reported for /bin/true: no figure below
	// it can be told apart.
	rssFloorKiB int64
}

// scaled is every size and duration of one benchmark run: the full table,
// or the smoke version that only proves each row still works.
type scaled struct {
	name string
	// peers: bulkrevoke unpaced against wrk (rows; wrk's duration) and
	// against xargs+curl (rows, for both).
	peerRows    int
	wrkDuration time.Duration
	curlRows    int
	// rate accuracy: the rates, and seconds of traffic at each.
	rates       []float64
	rateSeconds float64
	// adaptive pacing: issue 11's scenarios.
	pacing pacingSizes
	// latency-bound runs.
	latencies   []time.Duration
	latencyRate float64
	latencyRows int
	// memory: rows for the unpaced and the dry runs; survey: rows.
	memoryRows []int
	dryRows    []int
	surveyRows int
	// budget bounds any one paced run.
	budget time.Duration
}

func sizes(smoke bool) scaled {
	if smoke {
		return scaled{
			name:     "smoke",
			peerRows: 2_000, wrkDuration: time.Second, curlRows: 100,
			rates: []float64{20, 100, 500}, rateSeconds: 1,
			pacing: pacingSizes{limitRows: 500, noiseRows: 1_000, change: time.Second, risingRows: 900, fallingRows: 1_000,
				quota: 300, window: time.Second, windowRows: 1_000},
			latencies: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond}, latencyRate: 400, latencyRows: 200,
			memoryRows: []int{2_000, 20_000}, dryRows: []int{2_000, 20_000}, surveyRows: 20_000,
			budget: 10 * time.Second,
		}
	}
	return scaled{
		name:     "full",
		peerRows: 200_000, wrkDuration: 10 * time.Second, curlRows: 5_000,
		rates: []float64{20, 100, 500}, rateSeconds: 5,
		pacing: pacingSizes{limitRows: 5_000, noiseRows: 10_000, change: 6 * time.Second, risingRows: 6_000, fallingRows: 4_000,
			quota: 1_000, window: 5 * time.Second, windowRows: 5_500},
		latencies: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond}, latencyRate: 400, latencyRows: 4_000,
		memoryRows: []int{20_000, 200_000, 2_000_000}, dryRows: []int{20_000, 200_000, 2_000_000}, surveyRows: 2_000_000,
		budget: 60 * time.Second,
	}
}

// tokenInput returns a CSV input of n unique token rows, generated on first
// use. The same file serves several rows of the table: each row gets a fresh
// simulator, so every token is live again.
func (h *harness) tokenInput(n int) (string, error) {
	name := fmt.Sprintf("tokens-%d.csv", n)
	if p, ok := h.inputs[name]; ok {
		return p, nil
	}
	p := filepath.Join(h.opts.workDir, name)
	if err := writeTokens(p, n, true); err != nil {
		return "", err
	}
	if h.inputs == nil {
		h.inputs = map[string]string{}
	}
	h.inputs[name] = p
	return p, nil
}

// token is the i-th generated token: 40 printable characters, about the
// length of a Concur access token.
func token(i int) string { return fmt.Sprintf("0_bench%033d", i) }

// writeTokens writes n unique tokens, one a line, under a "token" header
// when header is set (a bulkrevoke input) or bare (an xargs input).
func writeTokens(path string, n int, header bool) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create input: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if header {
		w.WriteString("token\n")
	}
	for i := range n {
		w.WriteString(token(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write input %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write input %s: %w", path, err)
	}
	return nil
}

// next returns fresh paths for one run's outcome file and log.
func (h *harness) next(label string) (out, logPath string) {
	h.seq++
	base := filepath.Join(h.opts.workDir, fmt.Sprintf("%02d-%s", h.seq, label))
	return base + ".out.csv", base + ".log"
}

// revokeAll runs bulkrevoke over input against a fresh simulator shaped by
// cfg, with extra flags, and returns what the binary and the server saw.
// It fails when the run did not account for every row it was given.
func (h *harness) revokeAll(ctx context.Context, label string, cfg sim.Config, input string, rows int, budget time.Duration, flags ...string) (jobResult, traffic, error) {
	srv, err := startServer(cfg)
	if err != nil {
		return jobResult{}, traffic{}, err
	}
	defer srv.close()
	out, logPath := h.next(label)
	args := append([]string{"--base-url", srv.url, "--out", out, "--force", "--log-format", "json", "--log-level", "info"}, flags...)
	args = append(args, input)
	res, err := h.runJob(ctx, job{args: args, admin: srv.admin, budget: budget, logPath: logPath})
	if err != nil {
		return res, traffic{}, err
	}
	tr := srv.traffic()
	if err := checkRun(res, rows, logPath); err != nil {
		return res, tr, fmt.Errorf("%s: %w", label, err)
	}
	return res, tr, nil
}

// checkRun fails a run that broke rather than merely being slow: an exit
// code other than "all good", "some rows failed" or "stopped at the
// budget", or a finished line that does not account for every row.
func checkRun(res jobResult, rows int, logPath string) error {
	switch {
	case res.exit == 3 && res.stopped:
		return nil // stopped at its budget: rows are missing by design
	case res.exit != 0 && res.exit != 1:
		return fmt.Errorf("bulkrevoke exited %d:\n%s", res.exit, tail(logPath, 5))
	case !res.finished.found:
		return fmt.Errorf("no finished line in the log:\n%s", tail(logPath, 5))
	}
	var n int64
	for _, c := range res.finished.RunByStatus {
		n += c
	}
	if n != int64(rows) {
		return fmt.Errorf("finished line accounts for %d rows, want %d:\n%s", n, rows, tail(logPath, 2))
	}
	return nil
}

// header describes the machine and the run, for BENCHMARKS.md.
func (h *harness) header(sc scaled) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run: `%s` (%s sizes), %s\n", strings.Join(append([]string{"go run ./bench"}, h.opts.args...), " "), sc.name, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s memory, %s, %s/%s\n", runtime.NumCPU(), cpuModel(), memTotal(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Peers: %s; %s\n", toolVersion("wrk", "-v"), toolVersion("curl", "--version"))
	fmt.Fprintf(&b, "Peak RSS is getrusage's maxrss of the bulkrevoke process, started by a small spawner; /bin/true started the same way reports %s (the floor)", mib(h.rssFloorKiB*1024))
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			if kib, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
			}
		}
	}
	return "unknown"
}

// toolVersion returns the first line a tool prints about its version, or
// says that it is missing.
func toolVersion(tool, flag string) string {
	if _, err := exec.LookPath(tool); err != nil {
		return tool + " not installed"
	}
	out, _ := exec.Command(tool, flag).CombinedOutput() // wrk -v exits 1
	first, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(first); len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return tool
}

// table is the benchmark's output: one line per measurement.
type table struct {
	rows [][6]string
	// smoke sizes are too small for the targets to mean anything:
	// they are shown, not judged.
	smoke bool
}

func (t *table) add(section, what, bulk, reference, result, target string) {
	t.rows = append(t.rows, [6]string{section, what, bulk, reference, result, target})
}

func (t *table) write(w io.Writer) {
	fmt.Fprintln(w, "| section | measurement | bulkrevoke | reference | result | issue target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r[:], " | "))
	}
}

// verdict renders a target with whether it was met.
func (t *table) verdict(target string, met bool) string {
	if t.smoke {
		return target + ": not judged (smoke)"
	}
	if met {
		return target + ": met"
	}
	return target + ": **missed**"
}
