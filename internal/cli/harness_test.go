package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// This file is the end-to-end harness of the fault, corpus and property
// tests: generated inputs whose every row is known, a simulator that counts
// requests per target, and the checks that every run must pass.

// inputRow is one generated CSV record and the target it names, as the
// simulator sees it ("token:T" or "user:U/K"); an invalid row has no key.
type inputRow struct {
	key string
	csv string
}

func tokenRow(tok string) inputRow { return inputRow{key: "token:" + tok, csv: tok + ",,"} }
func userRow(user, ck string) inputRow {
	return inputRow{key: "user:" + user + "/" + ck, csv: "," + user + "," + ck}
}
func invalidRow(record string) inputRow { return inputRow{csv: record} }

// inputFile is a generated input: the line of every row (the header is line
// 1), and for each line the line of the first row naming the same target.
type inputFile struct {
	path  string
	rows  map[int64]inputRow
	first map[int64]int64
}

func writeRows(t *testing.T, dir, name string, rows []inputRow) inputFile {
	t.Helper()
	f := inputFile{rows: map[int64]inputRow{}, first: map[int64]int64{}}
	firstOf := map[string]int64{}
	var b strings.Builder
	b.WriteString("token,user,consumerKey\n")
	for i, r := range rows {
		line := int64(i + 2)
		b.WriteString(r.csv + "\n")
		f.rows[line] = r
		if r.key == "" {
			continue
		}
		if _, ok := firstOf[r.key]; !ok {
			firstOf[r.key] = line
		}
		f.first[line] = firstOf[r.key]
	}
	f.path = writeFile(t, dir, name, b.String())
	return f
}

// liveRows registers tokens live tokens and users live user+key pairs (two
// tokens each) on srv and returns a row for each, users interleaved.
func liveRows(srv *sim.Server, prefix string, tokens, users int) []inputRow {
	var rows []inputRow
	for i := range max(tokens, users) {
		if i < tokens {
			tok := fmt.Sprintf("tok-%s-%04d", prefix, i)
			srv.AddToken(tok)
			rows = append(rows, tokenRow(tok))
		}
		if i < users {
			user, ck := fmt.Sprintf("%s-user%d@example.com", prefix, i), "ck-"+prefix
			srv.AddUserTokens(user, ck, 2)
			rows = append(rows, userRow(user, ck))
		}
	}
	return rows
}

// requestKey names the target of a revocation request as inputRow.key does.
func requestKey(r *http.Request) string {
	q := r.URL.Query()
	if tok := q.Get("token"); tok != "" {
		return "token:" + tok
	}
	return "user:" + q.Get("user") + "/" + q.Get("consumerKey")
}

// revokedOnServer reports whether the simulator holds key's target as
// revoked (a user pair: no live token left).
func revokedOnServer(s *sim.Server, key string) bool {
	switch kind, rest, _ := strings.Cut(key, ":"); kind {
	case "token":
		_, revoked := s.TokenRevoked(rest)
		return revoked
	default:
		user, ck, _ := strings.Cut(rest, "/")
		_, revoked := s.UserRevoked(user, ck)
		return revoked
	}
}

// hashOf spreads faults over targets the same way in every run.
func hashOf(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()
}

// faultPlan decides the fault of each attempt (counted from 1) at a target.
type faultPlan func(key string, attempt int) sim.Fault

// planned turns a plan into the simulator's per-request fault hook. Faults
// follow targets, not request numbers, so that which row meets which fault
// does not depend on how the workers interleave.
func planned(plan faultPlan) func(int64, *http.Request) sim.Fault {
	var mu sync.Mutex
	attempts := map[string]int{}
	return func(_ int64, r *http.Request) sim.Fault {
		k := requestKey(r)
		mu.Lock()
		attempts[k]++
		a := attempts[k]
		mu.Unlock()
		return plan(k, a)
	}
}

// tally is what a counting server saw.
type tally struct {
	mu        sync.Mutex
	perTarget map[string]int64
	// answered holds every request the server answered with a status (not
	// reset, not hung up on).
	answered []answer
}

type answer struct {
	key    string
	status int
}

// countingServer is newServer with requests counted per target. before, if
// set, sees every request first (the n-th, from 1) and may answer it itself
// by returning true.
func countingServer(t *testing.T, cfg sim.Config, before func(n int64, w http.ResponseWriter, r *http.Request) bool) (*server, *tally) {
	t.Helper()
	tl := &tally{perTarget: map[string]int64{}}
	var srv *server
	srv = newServer(t, cfg, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		k := requestKey(r)
		tl.mu.Lock()
		tl.perTarget[k]++
		tl.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		if before == nil || !before(n, rec, r) {
			srv.Server.ServeHTTP(rec, r)
		}
		if rec.status != 0 {
			tl.mu.Lock()
			tl.answered = append(tl.answered, answer{k, rec.status})
			tl.mu.Unlock()
		}
		return true
	})
	return srv, tl
}

// snapshot returns the requests received so far per target.
func (tl *tally) snapshot() map[string]int64 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	m := make(map[string]int64, len(tl.perTarget))
	for k, n := range tl.perTarget {
		m[k] = n
	}
	return m
}

func (tl *tally) requestsFor(key string) int64 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.perTarget[key]
}

func (tl *tally) answers() []answer {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]answer(nil), tl.answered...)
}

// statusRecorder notes the status a handler answered with; it passes
// Hijack through, which the simulator's connection resets need.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

// finished is the summary log line of a run.
type finished = Finished

// finishedLine finds the "finished" line in a run's JSON logs.
func finishedLine(t *testing.T, stderr string) finished {
	t.Helper()
	for line := range strings.Lines(stderr) {
		if !strings.Contains(line, `"message":"finished"`) {
			continue
		}
		var f finished
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("summary line %q: %v", line, err)
		}
		return f
	}
	t.Fatalf("no summary line in the logs:\n%s", stderr)
	return finished{}
}

// runJob runs "bulkrevoke run" against srv with JSON logs and returns the
// result and its summary line.
func runJob(t *testing.T, srv *server, token string, args ...string) (result, finished) {
	t.Helper()
	return runJobCtx(t, t.Context(), srv, token, args...)
}

func runJobCtx(t *testing.T, ctx context.Context, srv *server, token string, args ...string) (result, finished) {
	t.Helper()
	all := append([]string{"run", "--base-url", srv.url, "--log-format", "json"}, args...)
	res := runMain(t, ctx, map[string]string{EnvAdminToken: token}, "", all...)
	if res.code == ExitUsage {
		t.Fatalf("run refused (exit 2):\n%s", res.stderr)
	}
	return res, finishedLine(t, res.stderr)
}

// checkExact checks a completed run: the outcome file is sorted and holds
// exactly one outcome per input row; invalid rows are invalid, repeats are
// duplicates, and every other row ends revoked or not_found with its target
// revoked on the server. The attempts in the file plus the requests the runs
// left unrecorded are exactly the requests the server received. It returns
// the outcomes by line.
func checkExact(t *testing.T, srv *server, in inputFile, out string, unrecorded int64) map[int64]revoke.Outcome {
	t.Helper()
	got := readOutcomes(t, out)
	var prev, attempts int64
	if _, err := readJournalLines(out, func(line int64) {
		if line <= prev {
			t.Errorf("outcome file not sorted by line: %d after %d", line, prev)
		}
		prev = line
	}); err != nil {
		t.Fatal(err)
	}
	for line := range got {
		if _, ok := in.rows[line]; !ok {
			t.Errorf("outcome for line %d, which holds no row", line)
		}
	}
	for line, r := range in.rows {
		o, ok := got[line]
		if !ok {
			t.Errorf("line %d has no outcome", line)
			continue
		}
		attempts += int64(o.Attempts)
		switch {
		case r.key == "":
			if o.Status != revoke.Invalid || o.Error == "" || o.Attempts != 0 {
				t.Errorf("line %d: invalid row recorded %s, %d attempts, reason %q", line, o.Status, o.Attempts, o.Error)
			}
		case in.first[line] != line:
			if o.Status != revoke.Duplicate || o.Attempts != 0 {
				t.Errorf("line %d repeats line %d but was recorded %s after %d attempts", line, in.first[line], o.Status, o.Attempts)
			}
		default:
			if o.Status != revoke.Revoked && o.Status != revoke.NotFound {
				t.Errorf("line %d: %s after %d attempts (%s)", line, o.Status, o.Attempts, o.Error)
			}
			if !revokedOnServer(srv.Server, r.key) {
				t.Errorf("line %d: recorded %s but its target is still live on the server", line, o.Status)
			}
		}
	}
	if sent := srv.hits.Load(); attempts+unrecorded != sent {
		t.Errorf("server received %d requests; outcome file counts %d attempts and the runs %d unrecorded requests", sent, attempts, unrecorded)
	}
	return got
}

// readJournalLines calls fn with the line of each outcome, in file order.
func readJournalLines(path string, fn func(line int64)) (torn bool, err error) {
	return journal.Read(path, func(o revoke.Outcome) error { fn(o.Line); return nil })
}

func outPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}
