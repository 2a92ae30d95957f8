package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const testAdminToken = "ADMIN-secret-7f3a9c1e55d2"

// result is what one run of the command line left behind.
type result struct {
	code           int
	stdout, stderr string
}

// runMain runs the command line with the given environment.
func runMain(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := Main(ctx, args, getenv, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// server is the simulator behind an httptest server, so tests can see and
// shape the traffic.
type server struct {
	*sim.Server
	url  string
	hits atomic.Int64
}

func newServer(t *testing.T, cfg sim.Config, wrap func(n int64, w http.ResponseWriter, r *http.Request) bool) *server {
	t.Helper()
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdminToken
	}
	s := &server{Server: sim.New(cfg)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.hits.Add(1)
		if wrap != nil && wrap(n, w, r) {
			return
		}
		s.Server.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { s.Server.Close(); ts.Close() })
	s.url = ts.URL
	return s
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readOutcomes(t *testing.T, path string) map[int64]revoke.Outcome {
	t.Helper()
	got := map[int64]revoke.Outcome{}
	if _, err := journal.Read(path, func(o revoke.Outcome) error {
		if _, dup := got[o.Line]; dup {
			t.Errorf("line %d recorded twice", o.Line)
		}
		got[o.Line] = o
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRunRevokesEveryRow(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-alpha-1")
	srv.AddToken("tok-beta-2")
	srv.AddUserTokens("vicky", "app1", 2)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token,user,consumerKey\ntok-alpha-1,,\n,vicky,app1\n\ntok-beta-2,,\ntok-alpha-1,,\nunknown-tok,,\n")
	out := filepath.Join(dir, "out.csv")
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", "0", "--log-level", "debug", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	got := readOutcomes(t, out)
	want := map[int64]revoke.Status{2: revoke.Revoked, 3: revoke.Revoked, 5: revoke.Revoked, 6: revoke.Duplicate, 7: revoke.NotFound}
	if len(got) != len(want) {
		t.Fatalf("got %d outcomes, want %d: %v", len(got), len(want), got)
	}
	for line, st := range want {
		if got[line].Status != st {
			t.Errorf("line %d: %s, want %s", line, got[line].Status, st)
		}
	}
	for _, tok := range []string{"tok-alpha-1", "tok-beta-2"} {
		if _, revoked := srv.TokenRevoked(tok); !revoked {
			t.Errorf("%s still live on the server", tok)
		}
	}
	if _, revoked := srv.UserRevoked("vicky", "app1"); !revoked {
		t.Error("vicky's tokens still live")
	}
	if got[2].CorrelationID == "" || !input.IsFingerprint(got[2].Target) {
		t.Errorf("line 2 outcome %+v", got[2])
	}
	var attempts int64
	for _, o := range got {
		attempts += int64(o.Attempts)
	}
	if attempts != srv.hits.Load() {
		t.Errorf("outcomes count %d attempts, server saw %d requests", attempts, srv.hits.Load())
	}
	if !strings.Contains(res.stderr, `"message":"finished"`) || !strings.Contains(res.stderr, `"revoked":3`) {
		t.Errorf("no summary line in logs:\n%s", res.stderr)
	}
}

// TestNoSecretLeaks runs every kind of answer at debug level and looks for
// the admin token and the revoked tokens everywhere the job writes.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	secrets := []string{testAdminToken, "tok-SECRET-live-0001", "tok-SECRET-dead-0002", "tok-SECRET-flaky-0003", "tok SECRET bad"}
	var flaky atomic.Int64
	srv := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("token") == "tok-SECRET-flaky-0003" && flaky.Add(1) < 3 {
			// Echo the token back, as a careless server might.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "<Error><Message>busy with %s</Message></Error>", r.URL.Query().Get("token"))
			return true
		}
		return false
	})
	srv.AddToken("tok-SECRET-live-0001")
	srv.AddToken("tok-SECRET-flaky-0003")
	dir := t.TempDir()
	in := writeFile(t, dir, "in.jsonl", `{"token":"tok-SECRET-live-0001"}
{"token":"tok-SECRET-dead-0002"}
{"token":"tok-SECRET-flaky-0003"}
{"token":"tok SECRET bad"}
{"token":"tok-SECRET-live-0001"}
`)
	out := filepath.Join(dir, "out.jsonl")
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", "0", "--log-level", "debug", "--log-format", "json", "--out", out,
		"--summary", filepath.Join(dir, "summary.json"), "--metrics-file", filepath.Join(dir, "metrics.prom"), in)
	if res.code != ExitInvalid { // the bad token row is invalid; every other row ends well
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	outBytes, _ := os.ReadFile(out)
	meta, _ := os.ReadFile(journal.MetaPath(out))
	summary, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, "metrics.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		for name, text := range map[string]string{"stderr": res.stderr, "stdout": res.stdout, "outcome file": string(outBytes),
			"meta file": string(meta), "summary": string(summary), "metrics": string(metrics)} {
			if strings.Contains(text, s) || strings.Contains(text, strings.ReplaceAll(s, " ", "+")) {
				t.Errorf("%s contains secret %q", name, s)
			}
		}
	}
	if got := readOutcomes(t, out); got[3].Status != revoke.Revoked || got[3].Attempts != 3 {
		t.Errorf("flaky row: %+v", got[3])
	}
}

func TestRefusedBeforeAnythingIsSent(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "token\nabc\n")
	noHeader := writeFile(t, dir, "nohdr.csv", "abc,def\n")
	existing := writeFile(t, dir, "existing.csv", "line,kind\n")
	tokenFile := writeFile(t, dir, "admin.txt", testAdminToken+"\n")
	env := map[string]string{EnvAdminToken: testAdminToken}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // in stderr
	}{
		{"no command", env, nil, "no command"},
		{"no out", env, []string{"run", "--base-url", srv.url, good}, "--out is required"},
		{"no input", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv")}, "exactly one INPUT"},
		{"two inputs", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), good, good}, "exactly one INPUT"},
		{"stdin without format", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), "-"}, "--format"},
		{"unknown extension", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), filepath.Join(dir, "in.txt")}, "extension"},
		{"bad out extension", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.txt"), good}, ".csv"},
		{"plain http to a remote host", env, []string{"run", "--base-url", "http://concur.example.com", "--out", filepath.Join(dir, "o1.csv"), good}, "base-url"},
		{"no admin token", nil, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), good}, EnvAdminToken},
		{"missing token file", nil, []string{"run", "--base-url", srv.url, "--admin-token-file", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "o1.csv"), good}, "admin-token-file"},
		{"admin token as a flag", env, []string{"run", "--admin-token", testAdminToken, "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), good}, "not defined"},
		{"missing input file", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{"header names no column", env, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), noHeader}, "token"},
		{"existing outcome file", env, []string{"run", "--base-url", srv.url, "--out", existing, good}, "--force"},
		{"out is the input", env, []string{"run", "--base-url", srv.url, "--format", "csv", "--out", good, good}, "input"},
		{"bad rate", env, []string{"run", "--base-url", srv.url, "--rate", "-1", "--out", filepath.Join(dir, "o1.csv"), good}, "--rate"},
		{"rate NaN", env, []string{"run", "--base-url", srv.url, "--rate", "NaN", "--out", filepath.Join(dir, "o1.csv"), good}, "--rate"},
		{"rate Inf", env, []string{"run", "--base-url", srv.url, "--rate", "+Inf", "--out", filepath.Join(dir, "o1.csv"), good}, "--rate"},
		{"bad concurrency", env, []string{"run", "--base-url", srv.url, "--concurrency", "0", "--out", filepath.Join(dir, "o1.csv"), good}, "--concurrency"},
		{"bad user param", env, []string{"run", "--base-url", srv.url, "--user-param", "clientId", "--out", filepath.Join(dir, "o1.csv"), good}, "--user-param"},
		{"bad env value", map[string]string{EnvAdminToken: testAdminToken, "BULKREVOKE_RATE": "fast"}, []string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "o1.csv"), good}, "BULKREVOKE_RATE"},
		{"retry-failed without resume", env, []string{"run", "--base-url", srv.url, "--retry-failed", "--out", filepath.Join(dir, "o1.csv"), good}, "--resume"},
		{"token file with a space", nil, []string{"run", "--base-url", srv.url, "--admin-token-file", writeFile(t, dir, "sp.txt", "a b"), "--out", filepath.Join(dir, "o1.csv"), good}, "space"},
	}
	_ = tokenFile
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, context.Background(), tc.env, "", tc.args...)
			if res.code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, ExitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, testAdminToken) {
				t.Error("stderr shows the admin token")
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent by refused runs", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "o1.csv")); err == nil {
		t.Error("a refused run left an outcome file")
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	// No admin token and an unreachable instance: a dry run needs neither.
	res := runMain(t, context.Background(), nil, "token,user,consumerKey\nt1,,\n,u,k\nt1,,\n,u,\n",
		"run", "--dry-run", "--format", "csv", "--out", out, "-")
	if res.code != ExitInvalid { // the user without consumerKey; nothing can fail in a dry run
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	got := readOutcomes(t, out)
	want := map[int64]revoke.Status{2: revoke.DryRun, 3: revoke.DryRun, 4: revoke.Duplicate, 5: revoke.Invalid}
	for line, st := range want {
		if got[line].Status != st {
			t.Errorf("line %d: %s, want %s", line, got[line].Status, st)
		}
	}
}

func TestAdminTokenRejectedMidRunThenResume(t *testing.T) {
	t.Parallel()
	const rows = 40
	srv := newServer(t, sim.Config{}, nil)
	var b strings.Builder
	b.WriteString("token\n")
	for i := range rows {
		tok := "tok-" + strconv.Itoa(i)
		srv.AddToken(tok)
		b.WriteString(tok + "\n")
	}
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", b.String())
	out := filepath.Join(dir, "out.csv")
	// The admin token is revoked after the 15th request.
	srvWrap := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 15 {
			srv.SetAdminToken("ADMIN-new-token-2")
		}
		srv.ServeHTTP(w, r)
		return true
	})
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srvWrap.url, "--rate", "0", "--concurrency", "4", "--out", out, in)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
	}
	if !strings.Contains(res.stderr, "403") || !strings.Contains(res.stderr, "--resume") {
		t.Errorf("the operator is not told what happened:\n%s", res.stderr)
	}
	first := readOutcomes(t, out)
	if len(first) < 10 || len(first) >= rows {
		t.Fatalf("recorded %d rows before the stop", len(first))
	}
	for line, o := range first {
		if o.Status != revoke.Revoked {
			t.Errorf("line %d recorded %s before the stop", line, o.Status)
		}
	}
	sentBefore := srvWrap.hits.Load()
	if sentBefore > 15+4 {
		t.Errorf("%d requests: the run went on after the 403", sentBefore)
	}

	res = runMain(t, context.Background(), map[string]string{EnvAdminToken: "ADMIN-new-token-2"}, "",
		"run", "--resume", "--base-url", srvWrap.url, "--rate", "0", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("resume exit %d:\n%s", res.code, res.stderr)
	}
	final := readOutcomes(t, out)
	if len(final) != rows {
		t.Fatalf("%d outcomes after resume, want %d", len(final), rows)
	}
	for i := range rows {
		if _, revoked := srv.TokenRevoked("tok-" + strconv.Itoa(i)); !revoked {
			t.Errorf("tok-%d still live", i)
		}
	}
	// Rows recorded before the stop were not sent again.
	if resent := srvWrap.hits.Load() - sentBefore; resent != int64(rows-len(first)) {
		t.Errorf("resume sent %d requests for %d missing rows", resent, rows-len(first))
	}
	lines, err := countLines(out)
	if err != nil || lines != rows+1 {
		t.Errorf("outcome file has %d lines after compaction, want %d (%v)", lines, rows+1, err)
	}
}

func TestResumeRefusesAnotherInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\na\nb\n")
	out := filepath.Join(dir, "out.csv")
	if res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--out", out, in); res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	writeFile(t, dir, "in.csv", "token\na\nc\n")
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--resume", "--out", out, in)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "not the input") {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	res = runMain(t, context.Background(), nil, "", "run", "--dry-run", "--resume", "--ignore-input-change", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("insisting: exit %d:\n%s", res.code, res.stderr)
	}
}

func TestJobFileEnvAndFlagPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := writeFile(t, dir, "job.yaml", "rate: 5\nconcurrency: 3\nmax-attempts: 2\ndry-run: true\n")
	cfg, err := parseRun([]string{"--job", job, "--out", "o.csv", "in.csv"}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 5 || cfg.Concurrency != 3 || cfg.MaxAttempts != 2 || !cfg.DryRun {
		t.Errorf("job file not applied: %+v", cfg)
	}
	env := map[string]string{"BULKREVOKE_RATE": "7", "BULKREVOKE_CONCURRENCY": "9"}
	cfg, err = parseRun([]string{"--job", job, "--concurrency", "11", "--out", "o.csv", "in.csv"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 7 || cfg.Concurrency != 11 || cfg.MaxAttempts != 2 {
		t.Errorf("want env over job file and flag over env: rate %v concurrency %d attempts %d", cfg.Rate, cfg.Concurrency, cfg.MaxAttempts)
	}
	for name, body := range map[string]string{
		"unknown key":  "rate: 5\nspeed: 9\n",
		"secret":       "admin-token: abc\n",
		"bad value":    "rate: fast\n",
		"not a map":    "- rate\n",
		"nested value": "rate:\n  max: 5\n",
	} {
		p := writeFile(t, dir, strings.ReplaceAll(name, " ", "_")+".yaml", body)
		if _, err := parseRun([]string{"--job", p, "--dry-run", "--out", "o.csv", "in.csv"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: job file accepted", name)
		}
	}
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	return len(recs), err
}

// TestResumeWithChangedInputNeverSkipsANewTarget: with --ignore-input-change
// the lines of the new input may hold other targets than the journal
// recorded there; such a line is sent, never skipped as done.
func TestResumeWithChangedInputNeverSkipsANewTarget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	for _, tok := range []string{"tok-a", "tok-b", "tok-c", "tok-new"} {
		srv.AddToken(tok)
	}
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\ntok-c\n")
	out := filepath.Join(dir, "out.csv")
	env := map[string]string{EnvAdminToken: testAdminToken}
	args := []string{"run", "--base-url", srv.url, "--rate", "0", "--out", out}
	if res := runMain(t, context.Background(), env, "", append(args, in)...); res.code != ExitOK {
		t.Fatalf("first run exit %d:\n%s", res.code, res.stderr)
	}
	// HR re-exports the list with a new leaver on top: every line moves.
	writeFile(t, dir, "in.csv", "token\ntok-new\ntok-a\ntok-b\ntok-c\n")
	res := runMain(t, context.Background(), env, "", append(args, "--resume", "--ignore-input-change", in)...)
	if res.code != ExitOK {
		t.Fatalf("resume exit %d:\n%s", res.code, res.stderr)
	}
	if _, revoked := srv.TokenRevoked("tok-new"); !revoked {
		t.Error("the new token was skipped: its line had been recorded for another target")
	}
	got := readOutcomes(t, out)
	if len(got) != 4 || got[2].Target != input.Fingerprint("tok-new") || got[2].Status != revoke.Revoked {
		t.Errorf("outcomes after resume: %+v", got)
	}
	for line := int64(3); line <= 5; line++ {
		if got[line].Status != revoke.NotFound && got[line].Status != revoke.Revoked {
			t.Errorf("line %d: %s", line, got[line].Status)
		}
	}
}

// TestSandboxNeverMixesWithRealOutcomes: a sandbox run must not resume a
// real run's outcome file (its "revoked" would stand for rows never sent),
// nor a real run a sandbox's.
func TestSandboxNeverMixesWithRealOutcomes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-a")
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\n")
	real := filepath.Join(dir, "real.csv")
	env := map[string]string{EnvAdminToken: testAdminToken}
	// A real run stopped after its first row leaves rows to resume.
	ctx, cancel := context.WithCancel(context.Background())
	stopper := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		srv.ServeHTTP(w, r)
		cancel()
		return true
	})
	if res := runMain(t, ctx, env, "", "run", "--base-url", stopper.url, "--concurrency", "1", "--rate", "0", "--out", real, in); res.code != ExitStopped {
		t.Fatalf("real run exit %d:\n%s", res.code, res.stderr)
	}
	res := runMain(t, context.Background(), nil, "", "run", "--sandbox", "--resume", "--out", real, in)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "refusing to mix") {
		t.Fatalf("sandbox resuming a real file: exit %d:\n%s", res.code, res.stderr)
	}
	if got := readOutcomes(t, real); len(got) != 1 {
		t.Errorf("the real outcome file changed: %v", got)
	}

	sandbox := filepath.Join(dir, "sandbox.csv")
	if res := runMain(t, context.Background(), nil, "", "run", "--sandbox", "--dry-run", "--out", sandbox, in); res.code != ExitOK {
		t.Fatalf("sandbox dry run exit %d:\n%s", res.code, res.stderr)
	}
	res = runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--resume", "--out", sandbox, in)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "refusing to mix") {
		t.Fatalf("real run resuming a sandbox file: exit %d:\n%s", res.code, res.stderr)
	}
}

// TestSandboxResumeWithoutSidecar: a --sandbox run that insists on resuming
// a file of outcomes without its sidecar is refused, and told why: the
// sidecar is missing, so nothing says whose outcomes they are. (It used to
// say the file "holds outcomes from the --sandbox simulator".)
func TestSandboxResumeWithoutSidecar(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\n")
	out := writeFile(t, dir, "out.csv", "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id\n"+
		"2,user,vicky@example.com,eZByXv2X41cJlC21pSVvRi,revoked,200,1,,,5,,\n")
	before, _ := os.ReadFile(out)
	res := runMain(t, context.Background(), nil, "", "run", "--sandbox", "--resume", "--ignore-input-change", "--out", out, in)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "out.csv.meta.json is missing") ||
		!strings.Contains(res.stderr, "cannot tell whether they are from a real instance") {
		t.Fatalf("exit %d, want a refusal naming the missing sidecar:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "holds outcomes from the --sandbox simulator") {
		t.Errorf("refusal claims the outcomes are the simulator's:\n%s", res.stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("the outcome file changed: %q", after)
	}
}

// TestResumeAfterInsistingStillChecksTargets: once a resume insisted on a
// changed input, later plain resumes of that file still check each line's
// target, since lines not yet redone hold the old input's records.
func TestResumeAfterInsistingStillChecksTargets(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	for _, tok := range []string{"tok-a", "tok-b", "tok-c", "tok-x", "tok-y", "tok-z"} {
		srv.AddToken(tok)
	}
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\ntok-c\n")
	out := filepath.Join(dir, "out.csv")
	env := map[string]string{EnvAdminToken: testAdminToken}
	if res := runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--rate", "0", "--out", out, in); res.code != ExitOK {
		t.Fatalf("first run exit %d:\n%s", res.code, res.stderr)
	}
	writeFile(t, dir, "in.csv", "token\ntok-x\ntok-y\ntok-z\n")
	// The insisting resume is stopped after its first request.
	ctx, cancel := context.WithCancel(context.Background())
	stopper := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		srv.ServeHTTP(w, r)
		cancel()
		return true
	})
	res := runMain(t, ctx, env, "", "run", "--base-url", stopper.url, "--rate", "0", "--concurrency", "1", "--resume", "--ignore-input-change", "--out", out, in)
	if res.code != ExitStopped {
		t.Fatalf("insisting resume exit %d:\n%s", res.code, res.stderr)
	}
	res = runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--rate", "0", "--resume", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("plain resume exit %d:\n%s", res.code, res.stderr)
	}
	for _, tok := range []string{"tok-x", "tok-y", "tok-z"} {
		if _, revoked := srv.TokenRevoked(tok); !revoked {
			t.Errorf("%s never sent: its line was skipped on the old input's record", tok)
		}
	}
	got := readOutcomes(t, out)
	for line, tok := range map[int64]string{2: "tok-x", 3: "tok-y", 4: "tok-z"} {
		if got[line].Target != input.Fingerprint(tok) {
			t.Errorf("line %d records %s, want %s's fingerprint", line, got[line].Target, tok)
		}
	}
}

// TestResumeNeverMixesProviders: a Concur outcome proves nothing about an
// RFC 7009 endpoint, so one outcome file holds one provider's outcomes.
func TestResumeNeverMixesProviders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\n")
	out := filepath.Join(dir, "out.csv")
	rfc := []string{"run", "--provider", "rfc7009", "--revoke-url", "http://127.0.0.1:1/revoke", "--client-id", "cli", "--dry-run"}
	if res := runMain(t, context.Background(), nil, "", append(rfc, "--out", out, in)...); res.code != ExitOK {
		t.Fatalf("rfc7009 dry run exit %d:\n%s", res.code, res.stderr)
	}
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--resume", "--out", out, in)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "refusing to mix") {
		t.Fatalf("concur resuming an rfc7009 file: exit %d:\n%s", res.code, res.stderr)
	}
	if res := runMain(t, context.Background(), nil, "", append(rfc, "--resume", "--out", out, in)...); res.code != ExitOK {
		t.Fatalf("same provider resuming: exit %d:\n%s", res.code, res.stderr)
	}
}
