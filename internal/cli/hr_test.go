package cli

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Issue 13: HR exports as they come.

// outcomeKey identifies an outcome: its line and, for a user row fanned
// out over applications, its consumer key.
type outcomeKey struct {
	line int64
	key  string
}

// readTargets reads an outcome file by (line, consumer_key), failing the
// test on a pair recorded twice.
func readTargets(t *testing.T, path string) map[outcomeKey]revoke.Outcome {
	t.Helper()
	got := map[outcomeKey]revoke.Outcome{}
	if _, err := journal.Read(path, func(o revoke.Outcome) error {
		k := outcomeKey{o.Line, o.ConsumerKey}
		if _, dup := got[k]; dup {
			t.Errorf("line %d, consumer key %q recorded twice", o.Line, o.ConsumerKey)
		}
		got[k] = o
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRowSettingsLayers: the new settings are flags, BULKREVOKE_* variables
// and job-file keys; a higher layer's --consumer-key list replaces a lower
// one's, values within one layer add up.
func TestRowSettingsLayers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := writeFile(t, dir, "job.yaml", "consumer-key: ck-job-1,ck-job-2\nuser-column: Login ID\nrow-kind: user\n")
	noEnv := func(string) string { return "" }
	cfg, err := parseRun([]string{"--job", job, "--dry-run", "--out", "o.csv", "in.csv"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Rows.ConsumerKeys, []string{"ck-job-1", "ck-job-2"}) || cfg.Rows.UserColumn != "Login ID" || cfg.Rows.RowKind != "user" {
		t.Errorf("job file: %+v", cfg.Rows)
	}
	env := map[string]string{"BULKREVOKE_CONSUMER_KEY": "ck-env", "BULKREVOKE_TOKEN_COLUMN": "secret"}
	cfg, err = parseRun([]string{"--job", job, "--dry-run", "--row-kind", "auto", "--out", "o.csv", "in.csv"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Rows.ConsumerKeys, []string{"ck-env"}) || cfg.Rows.TokenColumn != "secret" {
		t.Errorf("environment over job file: %+v", cfg.Rows)
	}
	keys := writeFile(t, dir, "keys.txt", "# applications\nck-file-1\n\n  ck-file-2  # the expense app\nck-a\n")
	cfg, err = parseRun([]string{"--job", job, "--dry-run", "--row-kind", "auto", "--consumer-key", "ck-a", "--consumer-key", "ck-b,ck-c", "--consumer-keys-file", keys, "--out", "o.csv", "in.csv"},
		func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ck-a", "ck-b", "ck-c", "ck-file-1", "ck-file-2"}; !slices.Equal(cfg.Rows.ConsumerKeys, want) {
		t.Errorf("command line: keys %v, want %v", cfg.Rows.ConsumerKeys, want)
	}
}

// TestRowSettingsRefused: each bad setting is exit 2 with nothing sent and
// no outcome file.
func TestRowSettingsRefused(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", "Login ID,consumerKey\nbo@example.com,ck-1\n")
	loginOnly := writeFile(t, dir, "leavers.csv", "Login ID,Name\nbo@example.com,Bo\n")
	jsonl := writeFile(t, dir, "users.jsonl", `{"login_id":"bo@example.com","client_id":"ck-1"}`+"\n")
	noKeys := writeFile(t, dir, "nokeys.txt", "# nothing yet\n\n")
	badKeys := writeFile(t, dir, "badkeys.txt", "ck-1\nck 2\n")
	names := writeFile(t, dir, "names.csv", "Name,Department\nBo,HR\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"key with a space", []string{"--consumer-key", "ck 1", users}, "not printable ASCII without spaces"},
		{"key with a control byte", []string{"--consumer-key", "ck\x01", users}, "not printable ASCII without spaces"},
		{"non-ASCII key", []string{"--consumer-key", "clé", users}, "not printable ASCII without spaces"},
		{"empty keys file", []string{"--consumer-keys-file", noKeys, loginOnly}, "no consumer key in it"},
		{"bad key in the file", []string{"--consumer-keys-file", badKeys, loginOnly}, "line 2"},
		{"keys file a directory", []string{"--consumer-keys-file", dir, loginOnly}, "want a regular file"},
		{"keys file missing", []string{"--consumer-keys-file", filepath.Join(dir, "none.txt"), loginOnly}, "no such file"},
		{"user column missing", []string{"--user-column", "Employee", users}, `--user-column "Employee": the input has no such column`},
		{"consumer key column missing", []string{"--consumer-key-column", "App", users}, `--consumer-key-column "App"`},
		{"JSONL key missing", []string{"--token-column", "secret", jsonl}, `--token-column "secret"`},
		{"column of separators", []string{"--user-column", " - ", users}, "names no column"},
		{"row kind token without a token column", []string{"--row-kind", "token", users}, "--row-kind token: the input has no token column"},
		{"row kind token, JSONL", []string{"--row-kind", "token", jsonl}, "--row-kind token"},
		{"unknown row kind", []string{"--row-kind", "both", users}, "want auto, token or user"},
		{"login IDs without applications", []string{loginOnly}, "--consumer-key"},
		{"header of nothing known", []string{names}, `"Department"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "o.csv")
			args := append([]string{"run", "--base-url", srv.url, "--out", out}, tc.args...)
			res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", args...)
			if res.code != ExitUsage {
				t.Fatalf("exit %d, want 2:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(strings.ReplaceAll(res.stderr, `\"`, `"`), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a refused run left an outcome file")
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent by refused runs", n)
	}
}

// TestBreachExportByToken: a breach export carries context beside each
// token; --row-kind token revokes the tokens instead of refusing every row.
func TestBreachExportByToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-breach-1")
	srv.AddToken("tok-breach-2")
	dir := t.TempDir()
	in := writeFile(t, dir, "breach.csv", "access_token,user,client_id,last_seen\n"+
		"tok-breach-1,bo@example.com,ck-1,2026-11-30\ntok-breach-2,al@example.com,ck-1,2026-11-30\n")
	out := filepath.Join(dir, "o.csv")
	res, fin := runJob(t, srv, testAdminToken, "--rate", "0", "--row-kind", "token", "--out", out, in)
	if res.code != ExitOK || fin.RunByStatus[revoke.Revoked] != 2 {
		t.Fatalf("exit %d, %v:\n%s", res.code, fin.RunByStatus, res.stderr)
	}
	for _, tok := range []string{"tok-breach-1", "tok-breach-2"} {
		if _, revoked := srv.TokenRevoked(tok); !revoked {
			t.Errorf("%s still live", tok)
		}
	}
	if _, revoked := srv.UserRevoked("bo@example.com", "ck-1"); revoked {
		t.Error("the context column's user was revoked")
	}
}

// TestEmptyRowsAreNoRows: a spreadsheet's trailing rows of empty cells give
// no outcome and do not fail the nightly run; the finished line and the
// summary count them.
func TestEmptyRowsAreNoRows(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-e-1")
	dir := t.TempDir()
	in := writeFile(t, dir, "export.csv", "token,user,consumerKey\ntok-e-1,,\n,,\n , ,\n,,\n")
	out := filepath.Join(dir, "o.csv")
	summary := filepath.Join(dir, "summary.json")
	res, fin := runJob(t, srv, testAdminToken, "--rate", "0", "--summary", summary, "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	if fin.EmptyRows != 3 {
		t.Errorf("finished line: empty_rows %d, want 3", fin.EmptyRows)
	}
	sum := readSummary(t, summary)
	if sum["empty_rows"] != float64(3) || sum["input_rows"] != float64(1) || sum["done"] != float64(1) {
		t.Errorf("summary: empty_rows %v, input_rows %v, done %v; want 3, 1, 1", sum["empty_rows"], sum["input_rows"], sum["done"])
	}
	if got := readTargets(t, out); len(got) != 1 || got[outcomeKey{2, ""}].Status != revoke.Revoked {
		t.Errorf("outcomes %v", got)
	}
}

// TestDuplicateNamesItsLine: a duplicate's error column names the line it
// repeats.
func TestDuplicateNamesItsLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token,user,consumerKey\ntok-d-1,,\n,bo,ck-1\ntok-d-1,,\n,bo,ck-1\ntok-d-1,,\n")
	out := filepath.Join(dir, "o.csv")
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	got := readTargets(t, out)
	for line, want := range map[int64]string{4: "duplicate of line 2", 5: "duplicate of line 3", 6: "duplicate of line 2"} {
		o := got[outcomeKey{line, ""}]
		if line == 5 {
			o = got[outcomeKey{line, "ck-1"}]
		}
		if o.Status != revoke.Duplicate || o.Error != want {
			t.Errorf("line %d: %s %q, want duplicate %q", line, o.Status, o.Error, want)
		}
	}
}

// fanOutServer is a simulator holding live tokens for every (user,
// application) pair, counting requests per target.
type fanOutServer struct {
	*server
	mu   sync.Mutex
	sent map[string]int
}

func newFanOutServer(t *testing.T, users, apps []string, before func(n int64)) *fanOutServer {
	t.Helper()
	f := &fanOutServer{sent: map[string]int{}}
	f.server = newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		f.mu.Lock()
		f.sent[requestKey(r)]++
		f.mu.Unlock()
		if before != nil {
			before(n)
		}
		return false
	})
	for _, u := range users {
		for _, a := range apps {
			f.AddUserTokens(u, a, 2)
		}
	}
	return f
}

func (f *fanOutServer) sentTo(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent[key]
}

// leavers writes a login-ID-only HR export of n users and returns the path
// and the users.
func leavers(t *testing.T, dir string, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Login ID,Name\r\n")
	var users []string
	for i := range n {
		u := fmt.Sprintf("leaver%02d@example.com", i)
		users = append(users, u)
		fmt.Fprintf(&b, "%s,Leaver %d\r\n", u, i)
	}
	return writeFile(t, dir, "leavers.csv", b.String()), users
}

// TestFanOutDryRun: a dry run shows every (line, application) it would send.
func TestFanOutDryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "leavers.csv", "Login ID,Name,Client ID\nbo@example.com,Bo,\nal@example.com,Al,ck-own\nbo@example.com,Bo again,\n")
	out := filepath.Join(dir, "o.csv")
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--log-format", "json", "--consumer-key", "ck-a,ck-b", "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	got := readTargets(t, out)
	want := map[outcomeKey]revoke.Status{
		{2, "ck-a"}: revoke.DryRun, {2, "ck-b"}: revoke.DryRun, {3, "ck-own"}: revoke.DryRun,
		{4, "ck-a"}: revoke.Duplicate, {4, "ck-b"}: revoke.Duplicate,
	}
	if len(got) != len(want) {
		t.Errorf("%d outcomes, want %d: %v", len(got), len(want), got)
	}
	for k, st := range want {
		if got[k].Status != st {
			t.Errorf("%v: %s, want %s", k, got[k].Status, st)
		}
	}
	if o := got[outcomeKey{4, "ck-b"}]; o.Error != "duplicate of line 2" {
		t.Errorf("duplicate across applications says %q", o.Error)
	}
	// Compacted: sorted by line, then consumer key.
	var order []outcomeKey
	if _, err := journal.Read(out, func(o revoke.Outcome) error { order = append(order, outcomeKey{o.Line, o.ConsumerKey}); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(order, func(a, b outcomeKey) int { return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.key, b.key)) }) {
		t.Errorf("outcome file not sorted by line, then consumer key: %v", order)
	}
	if !strings.Contains(res.stderr, `"input_rows":5`) {
		t.Errorf("starting line does not count 5 targets:\n%s", res.stderr)
	}
}

// TestFanOutInterruptedThenResumed: a run stopped with a row half done
// redoes, on --resume, only that row's missing applications; every pair is
// sent exactly once over both runs.
func TestFanOutInterruptedThenResumed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apps := []string{"ck-a", "ck-b", "ck-c"}
	keys := writeFile(t, dir, "apps.txt", "# every application we run\nck-a\nck-b\nck-c\n")
	in, users := leavers(t, dir, 6)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The stop comes with the 5th request: line 2 has all three
	// applications, line 3 two of them.
	srv := newFanOutServer(t, users, apps, func(n int64) {
		if n == 5 {
			cancel()
		}
	})
	out := filepath.Join(dir, "o.csv")
	res, _ := runJobCtx(t, ctx, srv.server, testAdminToken, "--rate", "0", "--concurrency", "1", "--consumer-keys-file", keys, "--out", out, in)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want 3:\n%s", res.code, res.stderr)
	}
	first := readTargets(t, out)
	if len(first) != 5 {
		t.Fatalf("%d outcomes before the stop, want 5: %v", len(first), first)
	}
	if o := first[outcomeKey{3, "ck-b"}]; o.Status != revoke.Revoked {
		t.Fatalf("line 3, ck-b: %+v", o)
	}
	if _, ok := first[outcomeKey{3, "ck-c"}]; ok {
		t.Fatal("line 3 is not half done")
	}

	summary := filepath.Join(dir, "summary.json")
	res, fin := runJob(t, srv.server, testAdminToken, "--resume", "--rate", "0", "--consumer-keys-file", keys, "--summary", summary, "--out", out, in)
	if res.code != ExitOK {
		t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
	}
	// The summary counts pairs, earlier runs' included.
	if sum := readSummary(t, summary); sum["done"] != float64(18) || sum["revoked"] != float64(18) || sum["input_rows"] != float64(18) {
		t.Errorf("summary: done %v, revoked %v, input_rows %v; want 18 each", sum["done"], sum["revoked"], sum["input_rows"])
	}
	if fin.Skipped != 5 || fin.RunByStatus[revoke.Revoked] != 13 {
		t.Errorf("resume: skipped %d, revoked %d; want 5 and 13", fin.Skipped, fin.RunByStatus[revoke.Revoked])
	}
	final := readTargets(t, out)
	if len(final) != len(users)*len(apps) {
		t.Errorf("%d outcomes, want %d", len(final), len(users)*len(apps))
	}
	for i, u := range users {
		for _, a := range apps {
			key := "user:" + u + "/" + a
			if n := srv.sentTo(key); n != 1 {
				t.Errorf("%s sent %d times over both runs, want once", key, n)
			}
			if _, revoked := srv.UserRevoked(u, a); !revoked {
				t.Errorf("%s still live", key)
			}
			if o := final[outcomeKey{int64(i + 2), a}]; o.Status != revoke.Revoked || o.Target != u {
				t.Errorf("line %d, %s: %+v", i+2, a, o)
			}
		}
	}
	// --retry-failed on a complete file sends nothing more.
	before := srv.hits.Load()
	if res, _ := runJob(t, srv.server, testAdminToken, "--resume", "--retry-failed", "--rate", "0", "--consumer-keys-file", keys, "--out", out, in); res.code != ExitOK {
		t.Fatalf("retry: exit %d:\n%s", res.code, res.stderr)
	}
	if n := srv.hits.Load() - before; n != 0 {
		t.Errorf("--retry-failed on a complete run sent %d requests", n)
	}
}

// TestFanOutRetryFailed: --retry-failed re-sends exactly the failed
// (line, application) pairs, not their lines' other applications.
func TestFanOutRetryFailed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apps := []string{"ck-a", "ck-b"}
	in, users := leavers(t, dir, 3)
	var failing atomic.Bool
	failing.Store(true)
	srv := newFanOutServer(t, users, apps, nil)
	// Every ck-b request of the first run fails for good (400).
	wrapped := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		srv.mu.Lock()
		srv.sent[requestKey(r)]++
		srv.mu.Unlock()
		if failing.Load() && r.URL.Query().Get("consumerKey") == "ck-b" {
			http.Error(w, `{"Message":"Bad Request"}`, http.StatusBadRequest)
			return true
		}
		srv.ServeHTTP(w, r)
		return true
	})
	out := filepath.Join(dir, "o.csv")
	args := []string{"--rate", "0", "--max-attempts", "1", "--consumer-key", "ck-a", "--consumer-key", "ck-b", "--out", out, in}
	res, _ := runJob(t, wrapped, testAdminToken, args...)
	if res.code != ExitRows {
		t.Fatalf("exit %d, want 1:\n%s", res.code, res.stderr)
	}
	// bulkrevoke report reads the input as the run did: every pair is
	// covered, and each leaver's line is copied to --unrevoked once,
	// for its one failed application.
	unrevoked := filepath.Join(dir, "unrevoked.csv")
	rep := runMain(t, context.Background(), nil, "", "report", "--input", in, "--consumer-key", "ck-a,ck-b", "--unrevoked", unrevoked, out)
	if rep.code != ExitRows || !strings.Contains(rep.stdout, "every one of the 6 input rows has exactly one outcome") {
		t.Errorf("report: exit %d, want 1:\n%s%s", rep.code, rep.stdout, rep.stderr)
	}
	if b, err := os.ReadFile(unrevoked); err != nil || strings.Count(string(b), "\n") != 4 || strings.Count(string(b), users[0]) != 1 {
		t.Errorf("--unrevoked holds %q (%v); want the header and each leaver's line once", b, err)
	}
	failing.Store(false)
	res, fin := runJob(t, wrapped, testAdminToken, append([]string{"--resume", "--retry-failed"}, args...)...)
	if res.code != ExitOK || fin.Requests != 3 || fin.RunByStatus[revoke.Revoked] != 3 {
		t.Fatalf("retry: exit %d, %d requests, %v; want 0, 3 (the ck-b pairs), 3 revoked:\n%s", res.code, fin.Requests, fin.RunByStatus, res.stderr)
	}
	for k, o := range readTargets(t, out) {
		if o.Status != revoke.Revoked {
			t.Errorf("%v: %s", k, o.Status)
		}
	}
	for _, u := range users {
		if n := srv.sentTo("user:" + u + "/ck-a"); n != 1 {
			t.Errorf("%s/ck-a sent %d times, want once", u, n)
		}
		if n := srv.sentTo("user:" + u + "/ck-b"); n != 2 {
			t.Errorf("%s/ck-b sent %d times, want twice (failed, retried)", u, n)
		}
	}
}

// TestFanOutShards: shards of a fanned-out input are disjoint and complete
// by (line, application), and each pair is sent once, by one shard.
func TestFanOutShards(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	apps := []string{"ck-a", "ck-b", "ck-c"}
	in, users := leavers(t, dir, 20)
	srv := newFanOutServer(t, users, apps, nil)
	const shards = 3
	seen := map[outcomeKey]int{}
	linesSplit := map[int64]map[int]bool{}
	for i := range shards {
		out := filepath.Join(dir, fmt.Sprintf("o%d.csv", i))
		res, _ := runJob(t, srv.server, testAdminToken, "--rate", "0", "--consumer-key", "ck-a,ck-b,ck-c",
			"--shard", fmt.Sprintf("%d/%d", i, shards), "--out", out, in)
		if res.code != ExitOK {
			t.Fatalf("shard %d: exit %d:\n%s", i, res.code, res.stderr)
		}
		for k, o := range readTargets(t, out) {
			if prev, ok := seen[k]; ok {
				t.Errorf("%v in shards %d and %d", k, prev, i)
			}
			seen[k] = i
			if o.Status != revoke.Revoked {
				t.Errorf("shard %d, %v: %s", i, k, o.Status)
			}
			if linesSplit[k.line] == nil {
				linesSplit[k.line] = map[int]bool{}
			}
			linesSplit[k.line][i] = true
		}
	}
	if len(seen) != len(users)*len(apps) {
		t.Errorf("%d pairs across shards, want %d", len(seen), len(users)*len(apps))
	}
	split := 0
	for _, s := range linesSplit {
		if len(s) > 1 {
			split++
		}
	}
	if split == 0 {
		t.Error("no line's applications spread over shards: sharding is not by target")
	}
	for _, u := range users {
		for _, a := range apps {
			if n := srv.sentTo("user:" + u + "/" + a); n != 1 {
				t.Errorf("%s/%s sent %d times", u, a, n)
			}
		}
	}
}
