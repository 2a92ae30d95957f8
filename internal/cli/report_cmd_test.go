package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

// TestReportOverShards: two shards run against the simulator, then
// `bulkrevoke report` merges them, checks they cover the input, writes the
// merged file, the summary and the page, and exits 0; without one shard it
// says which lines lack an outcome, exits 1, and --unrevoked gives back
// exactly that shard's rows.
func TestReportOverShards(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	dir := t.TempDir()
	in := writeRows(t, dir, "in.csv", liveRows(srv.Server, "r", 12, 3))
	var outs []string
	for _, shard := range []string{"0/2", "1/2"} {
		out := filepath.Join(dir, "out-"+shard[:1]+".csv")
		res, _ := runJob(t, srv, testAdminToken, "--shard", shard, "--rate", "0", "--out", out, in.path)
		if res.code != ExitOK {
			t.Fatalf("shard %s: exit %d\n%s", shard, res.code, res.stderr)
		}
		outs = append(outs, out)
	}
	merged, sum, page := filepath.Join(dir, "all.csv"), filepath.Join(dir, "s.json"), filepath.Join(dir, "r.html")
	res := runMain(t, t.Context(), nil, "", append([]string{"report", "--input", in.path, "--out", merged, "--summary", sum, "--html", page}, outs...)...)
	if res.code != ExitOK {
		t.Fatalf("report: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "rows               15 of 15 in the input") || !strings.Contains(res.stdout, "every one of the 15 input rows has exactly one outcome") {
		t.Errorf("report table:\n%s", res.stdout)
	}
	got := readOutcomes(t, merged)
	if len(got) != 15 {
		t.Errorf("merged file holds %d rows, want 15", len(got))
	}
	var s struct {
		Covered bool  `json:"covered"`
		Rows    int64 `json:"done"`
		Runs    []struct {
			RunID string `json:"run_id"`
		}
	}
	b, _ := os.ReadFile(sum)
	if err := json.Unmarshal(b, &s); err != nil || !s.Covered || s.Rows != 15 {
		t.Errorf("summary %s (%v)", b, err)
	}
	if html, err := os.ReadFile(page); err != nil || !strings.Contains(string(html), "exactly one outcome") {
		t.Errorf("page: %v", err)
	}

	// One shard alone: the other's rows are missing.
	un := filepath.Join(dir, "again.csv")
	res = runMain(t, t.Context(), nil, "", "report", "--input", in.path, "--unrevoked", un, outs[0])
	if res.code != ExitRows || !strings.Contains(res.stdout, "NOT COVERED") {
		t.Fatalf("one shard: exit %d, want %d saying NOT COVERED\n%s", res.code, ExitRows, res.stdout)
	}
	shard1 := readOutcomes(t, outs[1])
	again, err := os.ReadFile(un)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(again), "\n"), "\n")
	if lines[0] != "token,user,consumerKey" || len(lines)-1 != len(shard1) {
		t.Errorf("unrevoked file holds %d rows (header %q), want shard 1's %d", len(lines)-1, lines[0], len(shard1))
	}
	for line := range shard1 {
		if r := in.rows[line]; !strings.Contains(string(again), r.csv+"\n") {
			t.Errorf("unrevoked file lacks line %d (%q)", line, r.csv)
		}
	}

	// lookup: a token of the input by stdin, a user pair, one unknown.
	var tokenRow, user inputRow
	for _, r := range in.rows {
		if strings.HasPrefix(r.key, "token:") {
			tokenRow = r
		} else {
			user = r
		}
	}
	token := strings.TrimPrefix(tokenRow.key, "token:")
	pair := strings.TrimPrefix(user.csv, ",")
	res = runMain(t, t.Context(), nil, token+"\n"+pair+"\n", append([]string{"lookup"}, outs...)...)
	if res.code != ExitOK || !strings.Contains(res.stdout, input.Fingerprint(token)+"\t") || strings.Contains(res.stdout, token) {
		t.Errorf("lookup: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Count(res.stdout, "\n") != 3 {
		t.Errorf("lookup printed %q, want the header and two rows", res.stdout)
	}
	res = runMain(t, t.Context(), nil, "never-issued\n", append([]string{"lookup"}, outs...)...)
	if res.code != ExitRows || !strings.Contains(res.stdout, input.Fingerprint("never-issued")+"\tno outcome") {
		t.Errorf("lookup of an unknown token: exit %d\n%s", res.code, res.stdout)
	}
}

func TestReportAndLookupUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notOutcomes := writeFile(t, dir, "x.csv", "token,user,consumerKey\nabc,,\n")
	cases := []struct {
		name  string
		args  []string
		code  int
		where string // "stdout" or "stderr"
		want  string
	}{
		{"report help", []string{"report", "-h"}, ExitOK, "stderr", "Usage: bulkrevoke report"},
		{"report without files", []string{"report"}, ExitUsage, "stderr", "give one or more outcome files"},
		{"report unknown flag", []string{"report", "--bogus", notOutcomes}, ExitUsage, "stderr", "bogus"},
		{"report not an outcome file", []string{"report", notOutcomes}, ExitUsage, "stderr", "x.csv"},
		{"report unrevoked without input", []string{"report", "--unrevoked", filepath.Join(dir, "u.csv"), notOutcomes}, ExitUsage, "stderr", "needs --input"},
		{"lookup help", []string{"lookup", "-h"}, ExitOK, "stderr", "never on the command line"},
		{"lookup without files", []string{"lookup"}, ExitUsage, "stderr", "standard input"},
		{"lookup not an outcome file", []string{"lookup", notOutcomes}, ExitUsage, "stderr", "x.csv"},
		{"top usage names them", []string{"help"}, ExitOK, "stdout", "report    merge outcome files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runMain(t, t.Context(), nil, "", tc.args...)
			text := res.stderr
			if tc.where == "stdout" {
				text = res.stdout
			}
			if res.code != tc.code || !strings.Contains(text, tc.want) {
				t.Errorf("exit %d, want %d with %q in %s:\nstdout: %s\nstderr: %s", res.code, tc.code, tc.want, tc.where, res.stdout, res.stderr)
			}
		})
	}
}
