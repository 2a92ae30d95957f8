package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// jsonLines decodes stderr line by line, failing the test on any line that
// is not a JSON object: in JSON log mode nothing else may reach stderr.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(stderr) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		t.Fatalf("no JSON line on stderr:\n%s", stderr)
	}
	return lines
}

// message returns the first line with that message, or nil.
func message(lines []map[string]any, msg string) map[string]any {
	for _, l := range lines {
		if l["message"] == msg {
			return l
		}
	}
	return nil
}

// TestEveryWayARunEndsIsJSON runs one case for each way a run can end, with
// --log-format json: every stderr line must be JSON, the finished line must
// carry the exit code, a run that stopped or was refused must end with an
// error-level line saying why, and the summary must name the same cause.
func TestEveryWayARunEndsIsJSON(t *testing.T) {
	t.Parallel()
	var badFails atomic.Bool
	badFails.Store(true)
	srv := newServer(t, sim.Config{Fault: failBad(&badFails)}, nil)
	good := newServer(t, sim.Config{Live: true}, nil)
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.csv", "token\ntok-ok-1\ntok-ok-2\ntok-ok-1\n")
	failing, _ := sweepInput(t, srv, t.TempDir(), 2, 1, 2, 0)
	invalid := writeFile(t, dir, "invalid.csv", "token,user,consumerKey\ntok-inv-1,,\n,only-user@example.com,\n")

	cases := []struct {
		name      string
		url       string
		admin     string
		args      []string
		code      int
		began     bool   // the run got as far as sending: finished line, summary
		wantError string // in the final line, the finished line and the summary
	}{
		{name: "all done", url: good.url, args: []string{ok}, code: ExitOK, began: true},
		{name: "a row failed", url: srv.url, args: []string{"--max-attempts", "1", failing}, code: ExitRows, began: true},
		{name: "invalid rows only", url: good.url, args: []string{invalid}, code: ExitInvalid, began: true},
		{name: "unknown flag", url: good.url, args: []string{"--outt", "x.csv", ok}, code: ExitUsage, wantError: "did you mean --out?"},
		{name: "input missing", url: good.url, args: []string{filepath.Join(dir, "absent.csv")}, code: ExitUsage, wantError: "absent.csv"},
		{name: "output refused", url: good.url, args: []string{"--metrics-file", t.TempDir(), ok}, code: ExitUsage, wantError: "not a regular file"},
		{name: "credentials rejected", url: good.url, admin: "ADMIN-wrong", args: []string{ok}, code: ExitStopped, began: true, wantError: "credentials rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			sum := filepath.Join(d, "summary.json")
			admin := testAdminToken
			if tc.admin != "" {
				admin = tc.admin
			}
			args := append([]string{"run", "--log-format", "json", "--base-url", tc.url, "--rate", "0",
				"--summary", sum, "--out", filepath.Join(d, "out.csv")}, tc.args...)
			res := runMain(t, context.Background(), map[string]string{EnvAdminToken: admin}, "", args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tc.code, res.stderr)
			}
			lines := jsonLines(t, res.stderr)
			last := lines[len(lines)-1]
			fin := message(lines, "finished")
			switch {
			case tc.began && fin == nil:
				t.Fatalf("no finished line:\n%s", res.stderr)
			case tc.began && fin["exit_code"] != float64(tc.code):
				t.Errorf("finished line exit_code %v, want %d", fin["exit_code"], tc.code)
			case !tc.began && fin != nil:
				t.Errorf("a refused run logged a finished line: %v", fin)
			}
			if tc.wantError == "" {
				if last["level"] == "error" {
					t.Errorf("a run that ended with exit %d ends on an error line: %v", tc.code, last)
				}
				return
			}
			if last["level"] != "error" || last["exit_code"] != float64(tc.code) || !strings.Contains(fmt.Sprint(last["error"]), tc.wantError) {
				t.Errorf("last line %v: want an error-level line with exit_code %d and an error naming %q", last, tc.code, tc.wantError)
			}
			if tc.began {
				if !strings.Contains(fmt.Sprint(fin["error"]), tc.wantError) {
					t.Errorf("finished line error %v, want it to name %q", fin["error"], tc.wantError)
				}
				doc := readSummary(t, sum)
				if !strings.Contains(fmt.Sprint(doc["error"]), tc.wantError) || doc["exit_code"] != float64(tc.code) {
					t.Errorf("summary error %v exit_code %v, want %q and %d", doc["error"], doc["exit_code"], tc.wantError, tc.code)
				}
			}
		})
	}
}

// TestInterruptAcknowledgedWhileRequestsHang: four requests hang at the
// server when the run is interrupted. The acknowledgement must come while
// they still hang (it is logged before any of them is answered), count
// them, and say how long they may take; the run then ends with exit 3 and an
// error naming the signal, in the final line, the finished line and the
// summary.
func TestInterruptAcknowledgedWhileRequestsHang(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inFlight atomic.Int64
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	srv := newServer(t, sim.Config{Live: true}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if inFlight.Add(1) == 4 {
			cancel(Interrupted(os.Interrupt))
		}
		<-release
		return false
	})
	dir := t.TempDir()
	var in strings.Builder
	in.WriteString("token\n")
	for i := range 20 {
		fmt.Fprintf(&in, "tok-hang-%02d\n", i)
	}
	input := writeFile(t, dir, "in.csv", in.String())
	sum := filepath.Join(dir, "summary.json")
	var stderr testutil.LockedBuffer
	done := make(chan int, 1)
	go func() {
		env := map[string]string{EnvAdminToken: testAdminToken}
		done <- Main(ctx, []string{"run", "--log-format", "json", "--base-url", srv.url, "--rate", "0", "--concurrency", "4",
			"--timeout", "10m", "--summary", sum, "--out", filepath.Join(dir, "out.csv"), input},
			func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &stderr)
	}()

	// The requests are held until the acknowledgement is seen: it cannot
	// have waited for them. The guard only stops a broken build hanging.
	var ack map[string]any
	guard := time.After(10 * time.Second)
	for ack == nil {
		for line := range strings.Lines(stderr.String()) {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["level"] == "warn" && strings.Contains(fmt.Sprint(l["message"]), "stop asked for") {
				ack = l
			}
		}
		select {
		case <-guard:
			close(release)
			t.Fatalf("no acknowledgement of the interrupt within 10 s while requests hang:\n%s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(release)
	code := <-done

	msg := fmt.Sprint(ack["message"])
	for _, want := range []string{"interrupted (SIGINT)", "the 4 requests in flight get at most --timeout 10m to finish", "second signal"} {
		if !strings.Contains(msg, want) {
			t.Errorf("acknowledgement %q lacks %q", msg, want)
		}
	}
	if ack["in_flight"] != float64(4) || ack["timeout"] != "10m" {
		t.Errorf("acknowledgement fields in_flight=%v timeout=%v, want 4 and 10m", ack["in_flight"], ack["timeout"])
	}
	if code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitStopped, stderr.String())
	}
	lines := jsonLines(t, stderr.String())
	want := "interrupted (SIGINT): run stopped before the end of the input"
	if last := lines[len(lines)-1]; last["error"] != want || last["exit_code"] != float64(ExitStopped) {
		t.Errorf("last line %v, want error %q", last, want)
	}
	if fin := message(lines, "finished"); fin == nil || fin["error"] != want {
		t.Errorf("finished line %v, want error %q", fin, want)
	}
	if doc := readSummary(t, sum); doc["error"] != want {
		t.Errorf("summary error %v, want %q", doc["error"], want)
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		50 * time.Minute: "50m", time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s",
		300 * time.Millisecond: "300ms", time.Hour + time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := (budgetSpent{50 * time.Minute}).Error(); got != "time budget (--max-duration 50m) spent" {
		t.Errorf("budget cause %q", got)
	}
	if got := Interrupted(syscall.SIGTERM).Error(); got != "interrupted (SIGTERM)" {
		t.Errorf("SIGTERM cause %q", got)
	}
}

func TestUnknownFlagSuggestions(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"--output": "--out", "-o": "--out", "--verbose": "--log-level", "-v": "--log-level",
		"--dryrun": "--dry-run", "--max-attempt": "--max-attempts", "--concurency": "--concurrency",
		"--summry": "--summary", "--token": "--admin-token-file", "--sandbx": "--sandbox", "--shrd": "--shard",
	}
	for typed, want := range cases {
		t.Run(typed, func(t *testing.T) {
			t.Parallel()
			res := runMain(t, context.Background(), nil, "", "run", typed, "x", "--out", "o.csv", "in.csv")
			if res.code != ExitUsage {
				t.Fatalf("exit %d, want %d", res.code, ExitUsage)
			}
			if wantText := "did you mean " + want + "?"; !strings.Contains(res.stderr, wantText) || !strings.Contains(res.stderr, "flag "+typed+" is not defined") {
				t.Errorf("stderr %q lacks %q", res.stderr, wantText)
			}
		})
	}
	// Nothing close: no guess.
	res := runMain(t, context.Background(), nil, "", "run", "--zebra", "--out", "o.csv", "in.csv")
	if res.code != ExitUsage || strings.Contains(res.stderr, "did you mean") || !strings.Contains(res.stderr, "flag --zebra is not defined") {
		t.Errorf("--zebra: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestInputFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.csv", "token\ntok-a\n")
	b := writeFile(t, dir, "b.csv", "token\ntok-b\n")
	job := writeFile(t, dir, "job.yaml", "input: "+b+"\n")
	parse := func(env map[string]string, args ...string) (Config, error) {
		return parseRun(append([]string{"--dry-run", "--out", filepath.Join(dir, "o.csv")}, args...), func(k string) string { return env[k] }, io.Discard)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // "" for a refusal
	}{
		{"--input alone", nil, []string{"--input", a}, a},
		{"--input and the same INPUT", nil, []string{"--input", a, a}, a},
		{"--input and another INPUT", nil, []string{"--input", a, b}, ""},
		{"--input over the job file", nil, []string{"--job", job, "--input", a}, a},
		{"the job file alone", nil, []string{"--job", job}, b},
		{"environment over the job file", map[string]string{"BULKREVOKE_INPUT": a}, []string{"--job", job}, a},
		{"INPUT over the environment", map[string]string{"BULKREVOKE_INPUT": b}, []string{a}, a},
		{"none", nil, nil, ""},
	} {
		cfg, err := parse(tc.env, tc.args...)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: accepted, input %s", tc.name, cfg.Input)
		case tc.want == "" && exitCodeOf(err) != ExitUsage:
			t.Errorf("%s: %v, want a usage error", tc.name, err)
		case tc.want != "" && (err != nil || cfg.Input != tc.want):
			t.Errorf("%s: input %q, %v; want %s", tc.name, cfg.Input, err, tc.want)
		}
	}
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--out", filepath.Join(dir, "o2.csv"), "--input", a, b)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "name two inputs") {
		t.Errorf("two inputs: exit %d, %q", res.code, res.stderr)
	}
}

// TestRunNameLabelsMetricsAndSummary: the run's name is the job file's base
// name by default, else bulkrevoke, or --name; with --shard, the shard too.
// Both label every series of the metrics file and appear in the summary.
func TestRunNameLabelsMetricsAndSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-1\ntok-2\ntok-3\n")
	job := writeFile(t, dir, "nightly.yaml", "rate: 0\n")
	for _, tc := range []struct {
		name      string
		args      []string
		wantName  string
		wantShard string
	}{
		{"default", nil, "bulkrevoke", ""},
		{"job file", []string{"--job", job}, "nightly", ""},
		{"flag over job file", []string{"--job", job, "--name", "breach-2026-12"}, "breach-2026-12", ""},
		{"shard", []string{"--name", "breach", "--shard", "1/2"}, "breach", "1/2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			prom, sum := filepath.Join(d, "m.prom"), filepath.Join(d, "s.json")
			args := append([]string{"run", "--dry-run", "--metrics-file", prom, "--summary", sum, "--out", filepath.Join(d, "o.csv")}, tc.args...)
			if res := runMain(t, context.Background(), nil, "", append(args, in)...); res.code != ExitOK {
				t.Fatalf("exit %d:\n%s", res.code, res.stderr)
			}
			doc := readSummary(t, sum)
			if doc["name"] != tc.wantName || (doc["shard"] != nil && doc["shard"] != tc.wantShard) || (tc.wantShard != "" && doc["shard"] != tc.wantShard) {
				t.Errorf("summary name %v shard %v, want %q %q", doc["name"], doc["shard"], tc.wantName, tc.wantShard)
			}
			b, err := os.ReadFile(prom)
			if err != nil {
				t.Fatal(err)
			}
			series := 0
			for line := range strings.Lines(string(b)) {
				if strings.HasPrefix(line, "#") {
					continue
				}
				series++
				if !strings.Contains(line, fmt.Sprintf(`name=%q`, tc.wantName)) {
					t.Errorf("series without name label %q: %s", tc.wantName, line)
				}
				if hasShard := strings.Contains(line, "shard="); hasShard != (tc.wantShard != "") || (hasShard && !strings.Contains(line, fmt.Sprintf(`shard=%q`, tc.wantShard))) {
					t.Errorf("series shard label, want %q: %s", tc.wantShard, line)
				}
			}
			if series < 10 {
				t.Errorf("%d series in the metrics file", series)
			}
		})
	}
	if res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--name", "two words", "--out", filepath.Join(dir, "o.csv"), in); res.code != ExitUsage {
		t.Errorf("--name with a space: exit %d", res.code)
	}
}

func TestVersionFromBuild(t *testing.T) {
	t.Parallel()
	rev := "0123456789abcdef0123456789abcdef01234567"
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.4.2"}, Settings: settings("vcs.revision", rev)}, "v1.4.2"},
		{"pseudo-version, dirty", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201120000-0123456789ab+dirty"}}, "v0.0.0-20261201120000-0123456789ab+dirty"},
		{"devel, clean revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, "0123456789ab"},
		{"devel, modified", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, "0123456789ab+dirty"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, ""},
	} {
		if got := versionFromBuild(&tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSandboxSampleShowsEveryOutcome runs the README's first command: it
// must exit 0 and show a newcomer revoked, not_found, duplicate rows and a
// retry.
func TestSandboxSampleShowsEveryOutcome(t *testing.T) {
	t.Parallel()
	sample, err := filepath.Abs(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "outcomes.csv")
	res := runMain(t, context.Background(), nil, "", "run", "--sandbox", "--force", "--out", out, sample)
	if res.code != ExitOK {
		t.Fatalf("exit %d, want 0:\n%s", res.code, res.stderr)
	}
	counts := map[revoke.Status]int{}
	retried := false
	for _, o := range readOutcomes(t, out) {
		counts[o.Status]++
		retried = retried || o.Attempts > 1
	}
	for _, s := range []revoke.Status{revoke.Revoked, revoke.NotFound, revoke.Duplicate} {
		if counts[s] == 0 {
			t.Errorf("no %s row: %v", s, counts)
		}
	}
	if counts[revoke.Failed]+counts[revoke.Invalid] != 0 {
		t.Errorf("failed or invalid rows in the clean sample: %v", counts)
	}
	if !retried {
		t.Error("no row was retried")
	}
}

// TestBarOnZeroColumnTerminal: a terminal that reports 0 columns (docker
// run -t before a resize) still gets a bar, 80 columns wide.
func TestBarOnZeroColumnTerminal(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 0, Cols: 0}); err != nil {
		t.Fatal(err)
	}
	screen := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx)
		screen <- string(b)
	}()
	srv := newServer(t, sim.Config{Live: true, Latency: 5 * time.Millisecond}, nil)
	dir := t.TempDir()
	var in strings.Builder
	in.WriteString("token\n")
	for i := range 30 {
		fmt.Fprintf(&in, "tok-zero-%02d\n", i)
	}
	input := writeFile(t, dir, "in.csv", in.String())
	env := map[string]string{EnvAdminToken: testAdminToken}
	code := Main(context.Background(), []string{"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--out", filepath.Join(dir, "o.csv"), input},
		func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, tty)
	tty.Close()
	raw := <-screen
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, raw)
	}
	text := strings.Join(renderTerminal(raw, 200), "\n")
	if !strings.Contains(text, "30/30 rows") || !strings.Contains(text, "100%") {
		t.Errorf("no bar on a terminal of 0 columns:\n%s", text)
	}
	for _, l := range renderTerminal(raw, 1000) {
		if strings.Contains(l, "rows/s") && len([]rune(l)) > 80 {
			t.Errorf("bar line of %d columns, want at most 80: %q", len([]rune(l)), l)
		}
	}
}

// TestBarShowsStopping: on a terminal, an interrupted run's bar says it is
// stopping while the requests in flight hang. The requests are held until
// the word is on the screen.
func TestBarShowsStopping(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 300}); err != nil {
		t.Fatal(err)
	}
	var screen testutil.LockedBuffer
	read := make(chan struct{})
	go func() {
		io.Copy(&screen, ptmx) // ends with EIO once the tty side is closed
		close(read)
	}()
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var inFlight atomic.Int64
	srv := newServer(t, sim.Config{Live: true}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if inFlight.Add(1) == 2 {
			cancel(Interrupted(os.Interrupt))
		}
		<-release
		return false
	})
	dir := t.TempDir()
	input := writeFile(t, dir, "in.csv", "token\ntok-s-1\ntok-s-2\ntok-s-3\ntok-s-4\n")
	env := map[string]string{EnvAdminToken: testAdminToken}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--out", filepath.Join(dir, "o.csv"), input},
			func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, tty)
	}()
	guard := time.After(10 * time.Second)
	for !strings.Contains(screen.String(), "stopping: waiting for the requests in flight") {
		select {
		case <-guard:
			free()
			t.Fatalf("the bar never said stopping:\n%s", strings.Join(renderTerminal(screen.String(), 300), "\n"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	free()
	code := <-done
	tty.Close()
	<-read
	if code != ExitStopped {
		t.Errorf("exit %d, want %d", code, ExitStopped)
	}
	if text := strings.Join(renderTerminal(screen.String(), 300), "\n"); !strings.Contains(text, "stop asked for: interrupted (SIGINT)") {
		t.Errorf("no acknowledgement on the terminal:\n%s", text)
	}
}

// TestRefusalInJSONWhenTheJobFileAsks: a command line too broken to parse
// still answers in JSON when the job file (or the environment, or the
// command line) asks for JSON logs, and for a person otherwise.
func TestRefusalInJSONWhenTheJobFileAsks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonJob := writeFile(t, dir, "nightly.yaml", "log-format: json\n")
	plainJob := writeFile(t, dir, "plain.yaml", "rate: 1\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		json bool
	}{
		{"job file asks", nil, []string{"--job", jsonJob}, true},
		{"environment asks", map[string]string{"BULKREVOKE_LOG_FORMAT": "json"}, []string{"--job", plainJob}, true},
		{"command line over job file", nil, []string{"--job=" + jsonJob, "--log-format=console"}, false},
		{"nobody asks", nil, []string{"--job", plainJob}, false},
	} {
		res := runMain(t, context.Background(), tc.env, "", append(append([]string{"run"}, tc.args...), "--outputt", "x.csv", "in.csv")...)
		if res.code != ExitUsage {
			t.Errorf("%s: exit %d", tc.name, res.code)
			continue
		}
		if !tc.json {
			if !strings.HasPrefix(res.stderr, "bulkrevoke: flag --outputt is not defined") {
				t.Errorf("%s: %q, want a line for a person", tc.name, res.stderr)
			}
			continue
		}
		lines := jsonLines(t, res.stderr)
		if len(lines) != 1 || lines[0]["level"] != "error" || lines[0]["exit_code"] != float64(ExitUsage) ||
			!strings.Contains(fmt.Sprint(lines[0]["error"]), "did you mean --out?") {
			t.Errorf("%s: %v", tc.name, lines)
		}
	}
}

// TestInvalidRowsStillCountAsSuccess: exit 4 leaves only a data problem,
// every valid row done, so the last-success time moves (the alert on its
// age pages for live tokens, not for a bad row); exit 1 does not move it.
func TestInvalidRowsStillCountAsSuccess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prom := filepath.Join(dir, "m.prom")
	in := writeFile(t, dir, "in.csv", "token\ntok-1\ntok 2\n")
	before := time.Now()
	if res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--metrics-file", prom, "--out", filepath.Join(dir, "o.csv"), in); res.code != ExitInvalid {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	m := readMetrics(t, prom)
	last := m["bulkrevoke_last_success_timestamp_seconds"]
	if m["bulkrevoke_exit_code"] != ExitInvalid || last < float64(before.Unix()) {
		t.Errorf("exit_code %v, last success %v: want 4 and a time after %d", m["bulkrevoke_exit_code"], last, before.Unix())
	}
}
