package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
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
	if _, err := report.ReadJournal(path, func(o revoke.Outcome) error {
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
