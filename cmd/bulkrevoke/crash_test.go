package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// These tests run the real command in a child process, so that kill -9 and
// signals hit the same code paths as in production: the test binary
// re-executes itself as bulkrevoke when asChild is set.
const asChild = "CRASHTEST_AS_BULKREVOKE"

const adminToken = "ADMIN-crash-test-51c0"

func TestMain(m *testing.M) {
	if os.Getenv(asChild) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child is a bulkrevoke process.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe, append([]string{"run", "--log-format", "json"}, args...)...)}
	c.cmd.Env = append(os.Environ(), asChild+"=1", cli.EnvAdminToken+"="+adminToken)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// wait returns the exit code, or -1 when the process was killed.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	err := c.cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		t.Fatalf("wait for bulkrevoke: %v", err)
		return 0
	}
}

// crashServer is the simulator with every request counted per target. A
// request for a frozen target (one whose row was recorded before a kill) is
// a broken promise, and is noted.
type crashServer struct {
	*sim.Server
	url string

	mu        sync.Mutex
	perTarget map[string]int
	frozen    map[string]bool
	resent    []string
	answered  []string // targets answered 200
	onRequest func(n int64)
	n         atomic.Int64
}

// newCrashServer starts the simulator; fault, if set, decides the fault of
// each attempt (counted from 1, across runs) at a target.
func newCrashServer(t *testing.T, cfg sim.Config, fault func(key string, attempt int) sim.Fault) *crashServer {
	t.Helper()
	cfg.AdminToken = adminToken
	s := &crashServer{perTarget: map[string]int{}, frozen: map[string]bool{}}
	if fault != nil {
		cfg.Fault = func(_ int64, r *http.Request) sim.Fault {
			key := targetKey(r)
			s.mu.Lock()
			attempt := s.perTarget[key]
			s.mu.Unlock()
			return fault(key, attempt)
		}
	}
	s.Server = sim.New(cfg)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.n.Add(1)
		key := targetKey(r)
		s.mu.Lock()
		s.perTarget[key]++
		if s.frozen[key] {
			s.resent = append(s.resent, key)
		}
		hook := s.onRequest
		s.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		rec := &statusWriter{ResponseWriter: w}
		s.Server.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			s.mu.Lock()
			s.answered = append(s.answered, key)
			s.mu.Unlock()
		}
	}))
	t.Cleanup(func() { s.Server.Close(); ts.Close() })
	s.url = ts.URL
	return s
}

func (s *crashServer) freeze(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen[key] = true
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Hijack passes through for the simulator's connection resets.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

func targetKey(r *http.Request) string {
	q := r.URL.Query()
	if tok := q.Get("token"); tok != "" {
		return "token:" + tok
	}
	return "user:" + q.Get("user") + "/" + q.Get("consumerKey")
}

// crashInput writes tokens and users (all live on s), with a few repeats,
// and returns each line's target key.
func crashInput(t *testing.T, s *sim.Server, path string, tokens, users int) map[int64]string {
	t.Helper()
	keys := map[int64]string{}
	var b strings.Builder
	b.WriteString("token,user,consumerKey\n")
	line := int64(1)
	add := func(csv, key string) {
		line++
		b.WriteString(csv + "\n")
		keys[line] = key
	}
	for i := range tokens {
		tok := fmt.Sprintf("tok-crash-%05d", i)
		s.AddToken(tok)
		add(tok+",,", "token:"+tok)
		if i < users {
			user := fmt.Sprintf("crash%d@example.com", i)
			s.AddUserTokens(user, "ck-crash", 1)
			add(","+user+",ck-crash", "user:"+user+"/ck-crash")
		}
		if i%50 == 49 {
			add(fmt.Sprintf("tok-crash-%05d,,", i-7), fmt.Sprintf("token:tok-crash-%05d", i-7))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return keys
}

func revokedOn(s *sim.Server, key string) bool {
	kind, rest, _ := strings.Cut(key, ":")
	if kind == "token" {
		_, revoked := s.TokenRevoked(rest)
		return revoked
	}
	user, ck, _ := strings.Cut(rest, "/")
	_, revoked := s.UserRevoked(user, ck)
	return revoked
}

// firstLines maps each target key to the first line naming it.
func firstLines(keys map[int64]string) map[string]int64 {
	first := map[string]int64{}
	for line, k := range keys {
		if f, ok := first[k]; !ok || line < f {
			first[k] = line
		}
	}
	return first
}

// readJournal reads the outcome file as --resume would: complete records
// only, a torn last line skipped. It fails on anything else unreadable.
func readJournal(t *testing.T, path string) []revoke.Outcome {
	t.Helper()
	var got []revoke.Outcome
	if _, err := journal.Read(path, func(o revoke.Outcome) error { got = append(got, o); return nil }); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		t.Fatalf("outcome file unreadable after a kill: %v", err)
	}
	return got
}

// TestKillNineThenResume kills the job with SIGKILL at random moments, then
// resumes it until it completes. In the end every row must have exactly one
// outcome, every target must be revoked, and no row recorded before a kill
// may have been sent again.
func TestKillNineThenResume(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(20240611, 7))
	// Some rows retry, so that kills also land on rows waiting to retry.
	s := newCrashServer(t, sim.Config{Latency: 15 * time.Millisecond, Jitter: 15 * time.Millisecond}, firstAttemptOfOneInTen(sim.Status503))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	keys := crashInput(t, s.Server, in, 300, 40)
	first := firstLines(keys)
	args := []string{"--base-url", s.url, "--rate", "0", "--concurrency", "8", "--out", out, in}

	const kills = 5
	killed, runs := 0, 0
	for code := -1; code != cli.ExitOK; runs++ {
		if runs > kills+3 {
			t.Fatalf("no complete run after %d runs; last exit %d", runs, code)
		}
		runArgs := args
		if runs > 0 {
			runArgs = append([]string{"--resume"}, args...)
		}
		c := startChild(t, runArgs...)
		if killed < kills {
			delay := time.Duration(20+rng.IntN(400)) * time.Millisecond
			timer := time.AfterFunc(delay, func() { _ = c.cmd.Process.Signal(syscall.SIGKILL) })
			code = c.wait(t)
			if !timer.Stop() && code == -1 {
				killed++
			}
		} else {
			code = c.wait(t)
		}
		switch code {
		case -1, cli.ExitOK:
		default:
			t.Fatalf("run %d: exit %d:\n%s", runs, code, c.stderr.String())
		}
		// What is recorded now must never be sent again.
		recorded := readJournal(t, out)
		for _, o := range recorded {
			if o.Attempts > 0 {
				s.freeze(keys[o.Line])
			}
		}
		t.Logf("run %d: exit %d, %d outcomes recorded, %d requests so far", runs, code, len(recorded), s.n.Load())
	}
	t.Logf("%d kills, %d runs, %d requests for %d rows", killed, runs, s.n.Load(), len(keys))
	if killed == 0 {
		t.Fatal("no kill landed mid-run: the test tested nothing")
	}

	got := map[int64]revoke.Outcome{}
	for _, o := range readJournal(t, out) {
		if _, dup := got[o.Line]; dup {
			t.Errorf("line %d has more than one outcome", o.Line)
		}
		got[o.Line] = o
	}
	for line, key := range keys {
		o, ok := got[line]
		switch {
		case !ok:
			t.Errorf("line %d has no outcome", line)
		case first[key] != line:
			if o.Status != revoke.Duplicate {
				t.Errorf("line %d repeats line %d but is %s", line, first[key], o.Status)
			}
		case o.Status != revoke.Revoked && o.Status != revoke.NotFound:
			t.Errorf("line %d: %s (%s)", line, o.Status, o.Error)
		}
		if !revokedOn(s.Server, key) {
			t.Errorf("line %d: target still live", line)
		}
	}
	if len(got) != len(keys) {
		t.Errorf("%d outcomes for %d rows", len(got), len(keys))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.resent {
		t.Errorf("%s was recorded before a kill, yet sent again", k)
	}
}

// firstAttemptOfOneInTen faults the first attempt at one target in ten.
func firstAttemptOfOneInTen(f sim.Fault) func(string, int) sim.Fault {
	return func(key string, attempt int) sim.Fault {
		h := fnv.New32a()
		h.Write([]byte(key))
		if attempt == 1 && h.Sum32()%10 == 0 {
			return f
		}
		return sim.None
	}
}

// summary is the "finished" line of a run's JSON logs.
// summary is the finished log line, decoded into the type that writes it.
type summary = cli.Finished

func finishedLine(t *testing.T, stderr string) summary {
	t.Helper()
	for line := range strings.Lines(stderr) {
		if strings.Contains(line, `"message":"finished"`) {
			var s summary
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("summary line %q: %v", line, err)
			}
			return s
		}
	}
	t.Fatalf("no summary line in the logs:\n%s", stderr)
	return summary{}
}

// signalAt sends sig to the child once the server receives its n-th
// request, while that request and those beside it are in flight.
func signalAt(s *crashServer, n int64, sig os.Signal) (started func(*exec.Cmd)) {
	ready := make(chan *os.Process, 1)
	var once sync.Once
	s.mu.Lock()
	s.onRequest = func(got int64) {
		if got == n {
			once.Do(func() {
				p := <-ready
				_ = p.Signal(sig)
			})
		}
	}
	s.mu.Unlock()
	return func(cmd *exec.Cmd) { ready <- cmd.Process }
}

// TestSIGTERMRecordsInFlight sends SIGTERM to the job while requests are at
// the server. It must exit 3 with every revocation the server answered in
// the outcome file, the rows it left waiting counted as unrecorded, and
// --resume must then finish without sending a recorded row again.
func TestSIGTERMRecordsInFlight(t *testing.T) {
	t.Parallel()
	s := newCrashServer(t, sim.Config{Latency: 40 * time.Millisecond}, firstAttemptOfOneInTen(sim.Status503))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	keys := crashInput(t, s.Server, in, 120, 10)
	args := []string{"--base-url", s.url, "--rate", "0", "--concurrency", "8", "--out", out, in}

	started := signalAt(s, 30, syscall.SIGTERM)
	c := startChild(t, args...)
	started(c.cmd)
	if code := c.wait(t); code != cli.ExitStopped || !strings.Contains(c.stderr.String(), "--resume") {
		t.Fatalf("exit %d, want %d and a hint to resume:\n%s", code, cli.ExitStopped, c.stderr.String())
	}
	// JSON logs to the end: the last line names the signal.
	var last map[string]any
	for line := range strings.Lines(c.stderr.String()) {
		last = nil
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
	if last["level"] != "error" || !strings.HasPrefix(fmt.Sprint(last["error"]), "interrupted (SIGTERM)") || last["exit_code"] != float64(cli.ExitStopped) {
		t.Errorf("last stderr line %v: want an error naming SIGTERM, with exit_code 3", last)
	}
	recorded := readJournal(t, out)
	byKey := map[string]revoke.Outcome{}
	var attempts int64
	for _, o := range recorded {
		if o.Attempts > 0 {
			byKey[keys[o.Line]] = o
		}
		attempts += int64(o.Attempts)
		if o.Status == revoke.Failed {
			t.Errorf("line %d recorded failed at the stop: %s", o.Line, o.Error)
		}
	}
	s.mu.Lock()
	answered := append([]string(nil), s.answered...)
	s.mu.Unlock()
	for _, k := range answered {
		if o, ok := byKey[k]; !ok || o.Status != revoke.Revoked {
			t.Errorf("the server revoked %s, but the outcome file has %+v", k, o)
		}
	}
	if sent, unrecorded := s.n.Load(), finishedLine(t, c.stderr.String()).Unrecorded; attempts+unrecorded != sent {
		t.Errorf("server received %d requests; outcome file counts %d attempts, the run %d unrecorded", sent, attempts, unrecorded)
	}
	if len(recorded) == 0 || len(recorded) >= len(keys) {
		t.Fatalf("%d of %d rows recorded: the signal came too early or too late", len(recorded), len(keys))
	}
	for _, o := range recorded {
		if o.Attempts > 0 {
			s.freeze(keys[o.Line])
		}
	}

	c = startChild(t, append([]string{"--resume"}, args...)...)
	if code := c.wait(t); code != cli.ExitOK {
		t.Fatalf("resume: exit %d:\n%s", code, c.stderr.String())
	}
	final := readJournal(t, out)
	if len(final) != len(keys) {
		t.Errorf("%d outcomes for %d rows", len(final), len(keys))
	}
	for line, k := range keys {
		if !revokedOn(s.Server, k) {
			t.Errorf("line %d: target still live", line)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.resent {
		t.Errorf("%s was recorded before SIGTERM, yet sent again", k)
	}
}

// TestSecondSignalExitsAtOnce: requests hang at the server, so a first
// SIGTERM alone would wait for them; a second one ends the process with
// exit 3, and what was recorded stays readable.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	// The first ten tokens are answered; every later one hangs.
	s := newCrashServer(t, sim.Config{}, func(key string, _ int) sim.Fault {
		if key >= "token:tok-crash-00010" {
			return sim.Hang
		}
		return sim.None
	})
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	keys := crashInput(t, s.Server, in, 40, 0)

	started := signalAt(s, 12, syscall.SIGTERM)
	c := startChild(t, "--base-url", s.url, "--rate", "0", "--concurrency", "4", "--timeout", "10m", "--out", out, in)
	started(c.cmd)
	// Signals sent close together may arrive as one, so keep sending until
	// the process is gone; the guard only stops a broken build hanging CI.
	exited := make(chan int, 1)
	go func() { exited <- c.wait(t) }()
	guard := time.After(time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case code := <-exited:
			if code != cli.ExitStopped {
				t.Fatalf("exit %d, want %d:\n%s", code, cli.ExitStopped, c.stderr.String())
			}
			for _, o := range readJournal(t, out) {
				if o.Status != revoke.Revoked || !revokedOn(s.Server, keys[o.Line]) {
					t.Errorf("line %d recorded %s", o.Line, o.Status)
				}
			}
			return
		case <-tick.C:
			// Only once the child sends requests: it has installed its
			// signal handler then, and a SIGTERM before would kill it
			// outright on a slow start.
			if s.n.Load() >= 12 {
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
			}
		case <-guard:
			_ = c.cmd.Process.Kill()
			t.Fatalf("still running a minute after repeated SIGTERMs:\n%s", c.stderr.String())
		}
	}
}

// TestFirstSignalAcknowledged: every request hangs at the server, so the
// run cannot end by itself. The first SIGINT must be acknowledged while they
// hang: a JSON warning that names the signal, counts the four requests in
// flight and says how long they may take. stderr is read until that line
// comes or 10 s pass (an upper bound on waiting, not a timing assertion).
// A second SIGINT then ends the process with exit 3.
func TestFirstSignalAcknowledged(t *testing.T) {
	t.Parallel()
	s := newCrashServer(t, sim.Config{}, func(string, int) sim.Fault { return sim.Hang })
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	crashInput(t, s.Server, in, 20, 0)

	started := signalAt(s, 4, syscall.SIGINT)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", "--log-format", "json", "--base-url", s.url, "--rate", "0", "--concurrency", "4",
		"--timeout", "10m", "--out", out, in)
	cmd.Env = append(os.Environ(), asChild+"=1", cli.EnvAdminToken+"="+adminToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	started(cmd)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	var seen []string
	guard := time.After(10 * time.Second)
	var ack map[string]any
	for ack == nil {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the process ended without acknowledging the signal:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Errorf("stderr line is not JSON: %q", line)
				continue
			}
			if l["level"] == "warn" && strings.Contains(fmt.Sprint(l["message"]), "stop asked for") {
				ack = l
			}
		case <-guard:
			t.Fatalf("no acknowledgement within 10 s of SIGINT:\n%s", strings.Join(seen, "\n"))
		}
	}
	msg := fmt.Sprint(ack["message"])
	if !strings.Contains(msg, "interrupted (SIGINT)") || !strings.Contains(msg, "the 4 requests in flight get at most --timeout 10m") ||
		ack["in_flight"] != float64(4) {
		t.Errorf("acknowledgement %v: want SIGINT named, 4 requests in flight and --timeout 10m", ack)
	}

	// The requests still hang: only a second signal ends the process.
	exited := make(chan error, 1)
	go func() {
		for line := range lines {
			seen = append(seen, line)
		}
		exited <- cmd.Wait()
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	stop := time.After(time.Minute)
	for {
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != cli.ExitStopped {
				t.Fatalf("second SIGINT: %v, want exit %d", err, cli.ExitStopped)
			}
			return
		case <-tick.C:
			_ = cmd.Process.Signal(syscall.SIGINT)
		case <-stop:
			t.Fatal("still running a minute after repeated SIGINTs")
		}
	}
}
