package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	dto "github.com/prometheus/client_model/go"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// sweepInput writes a CSV input of live tokens (revoked), unknown ones
// (not_found), ones the server always answers 503 (failed with
// --max-attempts 1), a duplicate, and invalid rows when asked.
func sweepInput(t *testing.T, srv *server, dir string, live, gone, bad, invalid int) (path string, rows int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("token\n")
	for i := range live {
		tok := fmt.Sprintf("tok-live-%03d", i)
		srv.AddToken(tok)
		fmt.Fprintln(&b, tok)
	}
	for i := range gone {
		fmt.Fprintf(&b, "tok-gone-%03d\n", i)
	}
	for i := range bad {
		fmt.Fprintf(&b, "tok-bad-%03d\n", i)
	}
	fmt.Fprintln(&b, "tok-live-000") // duplicate
	for i := range invalid {
		fmt.Fprintf(&b, "tok with space %d\n", i)
	}
	return writeFile(t, dir, "in.csv", b.String()), live + gone + bad + 1 + invalid
}

// failBad answers 503 to every "tok-bad-" row while *on is true.
func failBad(on *atomic.Bool) func(int64, *http.Request) sim.Fault {
	return func(_ int64, r *http.Request) sim.Fault {
		if on.Load() && strings.HasPrefix(r.URL.Query().Get("token"), "tok-bad-") {
			return sim.Status503
		}
		return sim.None
	}
}

// countFile counts the outcome file's rows by status, the ground truth the
// summary and metrics must agree with.
func countFile(t *testing.T, out string) map[revoke.Status]int64 {
	t.Helper()
	counts := map[revoke.Status]int64{}
	for _, o := range readOutcomes(t, out) {
		counts[o.Status]++
	}
	return counts
}

func readSummary(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, b)
	}
	return doc
}

// readMetrics parses a metrics file with Prometheus's text parser and
// returns each sample's value by name and labels, like `name{status="x"}`.
// The labels every series carries, name and shard, are left out of the
// key; TestRunNameLabelsMetricsAndSummary checks them.
func readMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	mfs := testutil.ParseMetrics(t, path)
	got := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := name
			var labels []string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "name" || lp.GetName() == "shard" {
					continue
				}
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			got[key] = sampleValue(m)
		}
	}
	return got
}

func sampleValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestSummaryAndMetricsAgreeWithOutcomeFile takes one outcome file through
// a run stopped by a rejected admin token, a resume that leaves failed
// rows, and a retry of the failures that succeeds; after each, the summary
// and the metrics must say what the outcome file says, and the last-success
// time must move only after the run that exited 0.
func TestSummaryAndMetricsAgreeWithOutcomeFile(t *testing.T) {
	t.Parallel()
	var badFails atomic.Bool
	badFails.Store(true)
	srv := newServer(t, sim.Config{Latency: 2 * time.Millisecond, Fault: failBad(&badFails)}, nil)
	var refuseAfter atomic.Int64 // requests after which the admin token is refused; 0 = never
	gate := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if k := refuseAfter.Load(); k > 0 && n >= k {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "<Error><Message>Invalid token</Message></Error>")
			return true
		}
		srv.ServeHTTP(w, r)
		return true
	})
	dir := t.TempDir()
	in, rows := sweepInput(t, srv, dir, 30, 10, 5, 0)
	out := filepath.Join(dir, "out.jsonl")
	sumPath := filepath.Join(dir, "summary.json")
	promPath := filepath.Join(dir, "bulkrevoke.prom")
	earlier := time.Date(2024, 12, 24, 3, 0, 0, 0, time.UTC)
	if err := report.WriteMetrics(promPath, report.Metrics{Version: "v0", LastSuccess: earlier}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name          string
		before        func()
		extra         []string
		code          int
		advances      bool  // last success
		wantRows      int64 // -1: fewer than all
		wantErrorText string
	}{
		{"stopped by a rejected admin token", func() { refuseAfter.Store(12) }, nil, ExitStopped, false, -1, "401"},
		{"resumed, some rows fail", func() { refuseAfter.Store(0); gate.hits.Store(0) }, []string{"--resume"}, ExitRows, false, int64(rows), ""},
		{"failures retried and served", func() { badFails.Store(false) }, []string{"--resume", "--retry-failed"}, ExitOK, true, int64(rows), ""},
	}
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			step.before()
			startedAt := time.Now()
			args := append([]string{"run", "--base-url", gate.url, "--rate", "0", "--concurrency", "2", "--max-attempts", "1",
				"--log-format", "json", "--progress", "off", "--summary", sumPath, "--metrics-file", promPath, "--out", out}, step.extra...)
			res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", append(args, in)...)
			if res.code != step.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, step.code, res.stderr)
			}
			counts := countFile(t, out)
			var recorded int64
			for _, n := range counts {
				recorded += n
			}
			if step.wantRows >= 0 && recorded != step.wantRows {
				t.Errorf("outcome file holds %d rows, want %d", recorded, step.wantRows)
			}
			if step.wantRows < 0 && (recorded == 0 || recorded >= int64(rows)) {
				t.Errorf("outcome file holds %d of %d rows: the stop did not happen mid-run", recorded, rows)
			}

			sum := readSummary(t, sumPath)
			for _, s := range report.Statuses() {
				if got := sum[string(s)]; got != float64(counts[s]) {
					t.Errorf("summary %s = %v, outcome file has %d", s, got, counts[s])
				}
			}
			if sum["done"] != float64(recorded) || sum["exit_code"] != float64(step.code) || sum["input_rows"] != float64(rows) {
				t.Errorf("summary done=%v exit_code=%v input_rows=%v, want %d, %d, %d", sum["done"], sum["exit_code"], sum["input_rows"], recorded, step.code, rows)
			}
			if sum["outcome_file"] != out || sum["input"] != in || sum["version"] != Version() {
				t.Errorf("summary paths or version: %v %v %v", sum["outcome_file"], sum["input"], sum["version"])
			}
			errText, _ := sum["error"].(string)
			if step.wantErrorText != "" && !strings.Contains(errText, step.wantErrorText) {
				t.Errorf("summary error %q, want it to mention %q", errText, step.wantErrorText)
			}
			for _, key := range []string{"run_started", "run_ended", "first_started"} {
				if _, err := time.Parse(time.RFC3339, fmt.Sprint(sum[key])); err != nil {
					t.Errorf("summary %s: %v", key, err)
				}
			}

			m := readMetrics(t, promPath)
			for _, s := range report.Statuses() {
				key := fmt.Sprintf("bulkrevoke_rows{status=%q}", s)
				if got, present := m[key]; !present || got != float64(counts[s]) {
					t.Errorf("%s = %v (present %v), outcome file has %d", key, got, present, counts[s])
				}
			}
			if m["bulkrevoke_exit_code"] != float64(step.code) || m["bulkrevoke_running"] != 0 {
				t.Errorf("exit_code %v running %v, want %d and 0", m["bulkrevoke_exit_code"], m["bulkrevoke_running"], step.code)
			}
			if m["bulkrevoke_requests_total"] != sum["run_requests"] || m["bulkrevoke_requests_total"] == 0 {
				t.Errorf("requests: metrics %v, summary %v", m["bulkrevoke_requests_total"], sum["run_requests"])
			}
			if m[fmt.Sprintf("bulkrevoke_build_info{version=%q}", Version())] != 1 {
				t.Errorf("no build_info for version %s: %v", Version(), m)
			}
			last := m["bulkrevoke_last_success_timestamp_seconds"]
			if step.advances {
				if last < float64(startedAt.Unix()) {
					t.Errorf("last success %v not advanced past the run's start %d", last, startedAt.Unix())
				}
			} else if last != float64(earlier.Unix()) {
				t.Errorf("last success %v, want the earlier %d kept after exit %d", last, earlier.Unix(), step.code)
			}
		})
		if !ok {
			break // the next step builds on this one
		}
	}
}

// TestProgressLines runs slowly enough for several progress lines at a
// short interval, and checks what each carries.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	var badFails atomic.Bool
	badFails.Store(true)
	srv := newServer(t, sim.Config{Latency: 15 * time.Millisecond, Fault: failBad(&badFails)}, nil)
	dir := t.TempDir()
	in, rows := sweepInput(t, srv, dir, 24, 8, 4, 1)
	out := filepath.Join(dir, "out.csv")
	promPath := filepath.Join(dir, "m.prom")
	// 36 requests, 2 at a time, 15 ms each: at least 270 ms, so at least
	// four 50 ms intervals.
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--max-attempts", "1",
		"--progress-interval", "50ms", "--metrics-file", promPath, "--out", out, in)
	if res.code != ExitRows {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	type line struct {
		Message string           `json:"message"`
		Done    int64            `json:"done"`
		Total   *int64           `json:"input_rows"`
		Rate    *float64         `json:"rate"`
		ETA     *int64           `json:"eta_s"`
		Rows    map[string]int64 `json:"done_by_status"`
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	for sc.Scan() {
		var head struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("stderr line is not JSON: %v: %s", err, sc.Bytes())
		}
		if head.Message != "progress" {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("progress line: %v: %s", err, sc.Bytes())
		}
		lines = append(lines, l)
	}
	if len(lines) < 3 {
		t.Fatalf("%d progress lines, want several:\n%s", len(lines), res.stderr)
	}
	var prev int64
	for i, l := range lines {
		if l.Done < prev {
			t.Errorf("line %d: done went back from %d to %d", i, prev, l.Done)
		}
		prev = l.Done
		if l.Total == nil || *l.Total != int64(rows) {
			t.Errorf("line %d: total %v, want %d", i, l.Total, rows)
		}
		if l.Rate == nil {
			t.Errorf("line %d: no rate", i)
		}
		if l.Done > 0 && l.Done < int64(rows) && l.ETA == nil {
			t.Errorf("line %d: no eta_s at %d of %d", i, l.Done, rows)
		}
		var sum int64
		for _, s := range report.Statuses() {
			n, ok := l.Rows[string(s)]
			if !ok {
				t.Errorf("line %d: no count for %s", i, s)
			}
			sum += n
		}
		if sum != l.Done {
			t.Errorf("line %d: counts add up to %d, done is %d", i, sum, l.Done)
		}
	}
	if lines[len(lines)-1].Done == 0 {
		t.Error("progress never moved")
	}
	if strings.Contains(res.stderr, "Outcomes:") {
		t.Error("human summary printed in JSON mode off a terminal")
	}
	m := readMetrics(t, promPath)
	if m["bulkrevoke_running"] != 0 || m["bulkrevoke_exit_code"] != ExitRows {
		t.Errorf("final metrics running=%v exit=%v", m["bulkrevoke_running"], m["bulkrevoke_exit_code"])
	}
}

// TestResumedProgressStartsAtRecordedRows: done counts rows recorded by the
// earlier run from the first progress line on.
func TestResumedProgressStartsAtRecordedRows(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{Latency: 10 * time.Millisecond}, nil)
	dir := t.TempDir()
	in, rows := sweepInput(t, srv, dir, 30, 0, 0, 0)
	out := filepath.Join(dir, "out.csv")
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	stopper := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 10 && !stopped.Load() {
			stopped.Store(true)
			cancel() // as a first Ctrl-C would
		}
		srv.ServeHTTP(w, r)
		return true
	})
	args := []string{"run", "--base-url", stopper.url, "--rate", "0", "--concurrency", "2", "--progress-interval", "20ms", "--out", out}
	first := runMain(t, ctx, map[string]string{EnvAdminToken: testAdminToken}, "", append(args, in)...)
	if first.code != ExitStopped {
		t.Fatalf("first run exit %d:\n%s", first.code, first.stderr)
	}
	recorded := int64(len(readOutcomes(t, out)))
	if recorded == 0 || recorded >= int64(rows) {
		t.Fatalf("first run recorded %d of %d rows", recorded, rows)
	}
	second := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", append(append(args, "--resume"), in)...)
	if second.code != ExitOK {
		t.Fatalf("resume exit %d:\n%s", second.code, second.stderr)
	}
	var firstDone int64 = -1
	for l := range strings.Lines(second.stderr) {
		var p struct {
			Message string `json:"message"`
			Done    int64  `json:"done"`
		}
		if json.Unmarshal([]byte(l), &p) == nil && p.Message == "progress" {
			firstDone = p.Done
			break
		}
	}
	if firstDone < recorded {
		t.Errorf("first progress line of the resume says done=%d, the earlier run had recorded %d:\n%s", firstDone, recorded, second.stderr)
	}
}

// TestProgressAfterDryRunCountsOnlyRealRows: a real run resuming a dry
// run's outcome file sends every row again, so the dry run's rows are not
// done before it starts, and done never passes total.
func TestProgressAfterDryRunCountsOnlyRealRows(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{Latency: 5 * time.Millisecond}, nil)
	dir := t.TempDir()
	in, rows := sweepInput(t, srv, dir, 20, 0, 0, 0)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--progress", "log", "--progress-interval", "10ms", "--resume", "--out", out}
	if res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", append(append(args, "--dry-run"), in)...); res.code != ExitOK {
		t.Fatalf("dry run exit %d:\n%s", res.code, res.stderr)
	}
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", append(args, in)...)
	if res.code != ExitOK {
		t.Fatalf("real run exit %d:\n%s", res.code, res.stderr)
	}
	lines := 0
	for l := range strings.Lines(res.stderr) {
		var p struct {
			Message string `json:"message"`
			Done    int64  `json:"done"`
			Total   int64  `json:"input_rows"`
		}
		if json.Unmarshal([]byte(l), &p) != nil || p.Message != "progress" {
			continue
		}
		lines++
		if p.Done > p.Total || p.Total != int64(rows) {
			t.Errorf("progress done=%d total=%d for %d rows", p.Done, p.Total, rows)
		}
	}
	if lines == 0 {
		t.Fatalf("no progress line:\n%s", res.stderr)
	}
	if got := countFile(t, out); got[revoke.Revoked]+got[revoke.Duplicate] != int64(rows) || got[revoke.DryRun] != 0 {
		t.Errorf("outcome file counts %v, want %d rows revoked or duplicate", got, rows)
	}
}

// TestHumanSummary: with console logs, the end of the run prints a table
// and the exact command to continue, which never holds a secret.
func TestHumanSummary(t *testing.T) {
	t.Parallel()
	var badFails atomic.Bool
	badFails.Store(true)
	srv := newServer(t, sim.Config{Fault: failBad(&badFails)}, nil)
	dir := t.TempDir()
	in, _ := sweepInput(t, srv, dir, 3, 2, 2, 1)
	out := filepath.Join(dir, "out dir", "out.csv") // a space, so the command needs quoting
	os.Mkdir(filepath.Dir(out), 0o700)
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", "0", "--max-attempts", "1", "--log-format", "console", "--force", "--out", out, in)
	if res.code != ExitRows {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	wantCmd := fmt.Sprintf("bulkrevoke run --resume --retry-failed --base-url %s --rate 0 --max-attempts 1 --log-format console --out '%s' %s", srv.url, out, in)
	for _, want := range []string{
		"revoked             3", "not_found           2", "failed              2", "invalid             1", "duplicate           1",
		"rows                9 of 9 in the input", "Outcomes: " + out, "Send the 2 failed rows again", "  " + wantCmd + "\n",
		"1 invalid row was not sent",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, testAdminToken) {
		t.Error("stderr holds the admin token")
	}
	// The printed command does what it says: it re-sends the failures.
	badFails.Store(false)
	again := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", splitCommand(t, wantCmd)[1:]...)
	if again.code != ExitInvalid { // no row fails now, but the invalid row is still invalid
		t.Fatalf("printed command exit %d:\n%s", again.code, again.stderr)
	}
	if c := countFile(t, out); c[revoke.Failed] != 0 || c[revoke.NotFound] != 4 {
		t.Errorf("after the printed retry: %v", c)
	}
}

// splitCommand undoes shellQuote, for commands a test feeds back to Main.
func splitCommand(t *testing.T, cmd string) []string {
	t.Helper()
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range cmd {
		switch {
		case r == '\'':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
			}
			cur.Reset()
			have = false
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func TestResumeCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		args        []string
		force       bool
		retryFailed bool
		want        string
	}{
		{"plain", []string{"--out", "o.csv", "in.csv"}, false, false, "bulkrevoke run --resume --out o.csv in.csv"},
		{"force dropped", []string{"--force", "--out", "o.csv", "in.csv"}, true, false, "bulkrevoke run --resume --out o.csv in.csv"},
		{"force=true dropped", []string{"-force=true", "--out=o.csv", "in.csv"}, true, true, "bulkrevoke run --resume --retry-failed --out=o.csv in.csv"},
		{"force from the job file", []string{"--job", "jobs/nightly.yaml"}, true, false, "bulkrevoke run --resume --job jobs/nightly.yaml --force=false"},
		{"resume not doubled", []string{"--resume", "--retry-failed", "--out", "o.csv", "in.csv"}, false, true, "bulkrevoke run --resume --retry-failed --out o.csv in.csv"},
		{"retry dropped for a plain resume", []string{"--resume", "--retry-failed", "--out", "o.csv", "in.csv"}, false, false, "bulkrevoke run --resume --out o.csv in.csv"},
		{"quoting", []string{"--out", "it's here.csv", "in $HOME.csv"}, false, false, `bulkrevoke run --resume --out 'it'\''s here.csv' 'in $HOME.csv'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := resumeCommand(tc.args, tc.force, tc.retryFailed); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWatchFlagsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\nabc\n")
	out := filepath.Join(dir, "out.csv")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown progress mode", []string{"--progress", "fancy"}, "--progress"},
		{"zero interval", []string{"--progress-interval", "0s"}, "--progress-interval"},
		{"summary in a missing directory", []string{"--summary", filepath.Join(dir, "nope", "s.json")}, "--summary"},
		{"metrics in a missing directory", []string{"--metrics-file", filepath.Join(dir, "nope", "m.prom")}, "--metrics-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"run", "--dry-run", "--out", out}, tc.args...), in)
			res := runMain(t, context.Background(), nil, "", args...)
			if res.code != ExitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %s", res.code, res.stderr, ExitUsage, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Error("outcome file created by a refused run")
			}
		})
	}
}

// renderTerminal plays raw terminal output onto a screen of the given width
// with unlimited scrollback, understanding what the bar and the console
// logger send: printable text, CR, LF, cursor up (CSI n A), erase below
// (CSI J), erase to end of line (CSI K) and colours (CSI m, ignored).
func renderTerminal(raw string, width int) []string {
	var lines [][]rune
	row, col := 0, 0
	at := func(r int) {
		for len(lines) <= r {
			lines = append(lines, nil)
		}
	}
	rs := []rune(raw)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '\r':
			col = 0
		case c == '\n':
			row++
			at(row)
		case c == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';' || rs[j] == '?') {
				j++
			}
			if j == len(rs) {
				i = j
				break
			}
			n := 1
			if p := string(rs[i+2 : j]); p != "" {
				fmt.Sscanf(p, "%d", &n)
			}
			switch rs[j] {
			case 'A':
				row = max(row-n, 0)
			case 'J':
				at(row)
				lines[row] = lines[row][:min(col, len(lines[row]))]
				lines = lines[:row+1]
			case 'K':
				at(row)
				lines[row] = lines[row][:min(col, len(lines[row]))]
			}
			i = j
		case c < 0x20:
		default:
			if col == width { // the terminal wraps before the next character
				row, col = row+1, 0
			}
			at(row)
			for len(lines[row]) < col {
				lines[row] = append(lines[row], ' ')
			}
			if col < len(lines[row]) {
				lines[row][col] = c
			} else {
				lines[row] = append(lines[row], c)
			}
			col++
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}

func TestRenderTerminal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw string
		want      []string
	}{
		{"lines", "a\r\nb\r\n", []string{"a", "b", ""}},
		{"bar redrawn in place", "log\r\n1/2 [=>-]\r\n\x1b[1A\x1b[J2/2 [==]\r\n", []string{"log", "2/2 [==]", ""}},
		{"line written under the bar is erased by the redraw", "1/2\r\nlost\r\n\x1b[2A\x1b[J2/2\r\n", []string{"2/2", ""}},
		{"colours ignored", "\x1b[33mWRN\x1b[0m x\r\n", []string{"WRN x", ""}},
		{"wraps at the width", "abcdef", []string{"abcd", "ef"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := renderTerminal(tc.raw, 4+100*boolInt(tc.name != "wraps at the width")); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestBarOnTerminal runs the command with a pseudo-terminal as stderr, the
// way an operator sees it: a bar, console log lines for failed rows that
// arrive whole above it, and the human summary at the end.
func TestBarOnTerminal(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	const cols = 400 // wider than any log line, so none wraps
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	screen := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once the tty side is closed
		screen <- string(b)
	}()

	var badFails atomic.Bool
	badFails.Store(true)
	srv := newServer(t, sim.Config{Latency: 20 * time.Millisecond, Fault: failBad(&badFails)}, nil)
	dir := t.TempDir()
	in, rows := sweepInput(t, srv, dir, 20, 5, 6, 0)
	out := filepath.Join(dir, "out.csv")
	var stdout strings.Builder
	env := map[string]string{EnvAdminToken: testAdminToken}
	code := Main(context.Background(),
		[]string{"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--max-attempts", "1", "--out", out, in},
		func(k string) string { return env[k] }, strings.NewReader(""), &stdout, tty)
	tty.Close()
	raw := <-screen
	if code != ExitRows {
		t.Fatalf("exit %d:\n%s", code, raw)
	}
	// What the operator ends up seeing, scrollback included: the bar
	// redraws by moving the cursor up and erasing, so a log line written
	// at the wrong moment would be erased or overwritten, though its bytes
	// were sent.
	text := strings.Join(renderTerminal(raw, cols), "\n")

	if !strings.Contains(text, fmt.Sprintf("%d/%d rows", rows, rows)) || !strings.Contains(text, "failed 6") {
		t.Errorf("the bar never showed %d/%d rows with 6 failed:\n%s", rows, rows, text)
	}
	if !strings.Contains(text, "[") || !strings.Contains(text, "100%") {
		t.Errorf("no completed bar:\n%s", text)
	}
	// Every failed row has its own warning line, whole: time, level,
	// message and fields on one line, nothing of the bar inside it.
	warn := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d WRN row .*line=(\d+) .*status=failed.*$`)
	seen := map[string]bool{}
	for _, m := range warn.FindAllStringSubmatch(text, -1) {
		if strings.Contains(m[0], " rows ") || strings.Contains(m[0], "[") {
			t.Errorf("log line torn by the bar: %q", m[0])
		}
		seen[m[1]] = true
	}
	if len(seen) != 6 {
		t.Errorf("%d whole warning lines for failed rows, want 6:\n%s", len(seen), text)
	}
	if !strings.Contains(text, "Send the 6 failed rows again") || !strings.Contains(text, "--resume --retry-failed") {
		t.Errorf("no human summary with the retry command:\n%s", text)
	}
}
