package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

// logRunIDs returns the run_id of every JSON log line of a run, failing on
// a line without one.
func logRunIDs(t *testing.T, stderr string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for line := range strings.Lines(stderr) {
		var l struct {
			RunID string `json:"run_id"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if l.RunID == "" {
			t.Errorf("log line without run_id: %s", line)
		}
		ids[l.RunID]++
	}
	return ids
}

// TestRowsCarrySettledAtAndRunID: every outcome row, in CSV and JSONL
// alike, says when its final answer arrived (RFC 3339 UTC, milliseconds,
// within the run) and which run settled it, the run_id every log line of
// that run carries; a later run on the same file has another ID, and a
// file written so resumes.
func TestRowsCarrySettledAtAndRunID(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{"csv", "jsonl"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sim.Config{}, nil)
			dir := t.TempDir()
			rows := liveRows(srv.Server, "s", 6, 2)
			rows = append(rows, invalidRow("x,y,z"), rows[0])
			in := writeRows(t, dir, "in.csv", rows)
			out := outPath(t, "out."+ext)

			dry := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "",
				"run", "--base-url", srv.url, "--log-format", "json", "--dry-run", "--rate", "0", "--out", out, in.path)
			if dry.code != ExitInvalid && dry.code != ExitOK {
				t.Fatalf("dry run: exit %d\n%s", dry.code, dry.stderr)
			}
			dryIDs := logRunIDs(t, dry.stderr)
			if len(dryIDs) != 1 {
				t.Fatalf("dry run logged run IDs %v, want one", dryIDs)
			}

			before := time.Now().UTC().Truncate(time.Millisecond)
			res, _ := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--out", out, in.path)
			after := time.Now().UTC()
			ids := logRunIDs(t, res.stderr)
			if len(ids) != 1 {
				t.Fatalf("run logged run IDs %v, want one", ids)
			}
			var runID string
			for id := range ids {
				runID = id
			}
			if _, same := dryIDs[runID]; same || len(runID) < 16 {
				t.Errorf("run ID %q: want a fresh random ID, not the dry run's %v", runID, dryIDs)
			}
			got := checkExact(t, srv, in, out, 0)
			sent := 0
			for line, o := range got {
				at, err := time.Parse(revoke.SettledLayout, o.SettledAt)
				if err != nil {
					t.Errorf("line %d: settled_at %q: %v", line, o.SettledAt, err)
					continue
				}
				if o.Attempts > 0 {
					sent++
					// Rows the dry run settled (invalid, duplicate)
					// keep its time and ID; sent rows are this run's.
					if at.Before(before) || at.After(after) {
						t.Errorf("line %d settled at %s, outside the run [%s, %s]", line, at, before, after)
					}
					if o.RunID != runID {
						t.Errorf("line %d: run_id %q, want this run's %q", line, o.RunID, runID)
					}
				} else if _, ok := dryIDs[o.RunID]; !ok && o.RunID != runID {
					t.Errorf("line %d: run_id %q is neither run's", line, o.RunID)
				}
			}
			if sent == 0 {
				t.Fatal("no row was sent")
			}
			hits := srv.hits.Load()
			again, _ := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--out", out, in.path)
			if again.code != ExitInvalid || srv.hits.Load() != hits {
				t.Errorf("resume of a finished file: exit %d, %d more requests\n%s", again.code, srv.hits.Load()-hits, again.stderr)
			}
		})
	}
}

// sidecarOf reads OUT.meta.json.
func sidecarOf(t *testing.T, out string) journal.Meta {
	t.Helper()
	m, err := journal.ReadMeta(out)
	if err != nil || m == nil {
		t.Fatalf("sidecar: %v (%v)", m, err)
	}
	return *m
}

func summaryOf(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testAdminToken) {
		t.Errorf("summary %s holds the admin token", path)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func onlyRunID(t *testing.T, stderr string) string {
	t.Helper()
	ids := logRunIDs(t, stderr)
	if len(ids) != 1 {
		t.Fatalf("log lines carry run IDs %v, want one", ids)
	}
	for id := range ids {
		return id
	}
	return ""
}

// TestRunsAreRecordedAndNothingIsErased follows one outcome file through a
// campaign: a first run with a failed row, --retry-failed, a resume from a
// changed input accepted with --ignore-input-change, and a --force restart.
// The summary says who ran each run and which span each number covers; the
// sidecar lists every run; every record superseded is in OUT.history.
func TestRunsAreRecordedAndNothingIsErased(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	var victim string
	srv := newServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if failing.Load() && requestKey(r) == victim {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	dir := t.TempDir()
	rows := liveRows(srv.Server, "h", 5, 1)
	victim = rows[1].key
	in := writeRows(t, dir, "in.csv", rows)
	out := filepath.Join(dir, "out.csv")
	s1, s2, s3, s4 := filepath.Join(dir, "s1.json"), filepath.Join(dir, "s2.json"), filepath.Join(dir, "s3.json"), filepath.Join(dir, "s4.json")
	host, _ := os.Hostname()
	instance := strings.TrimPrefix(srv.url, "http://")

	// Run 1: one row fails.
	args1 := []string{"--max-attempts", "1", "--rate", "0", "--summary", s1, "--out", out, in.path}
	res, fin := runJob(t, srv, testAdminToken, args1...)
	if res.code != ExitRows {
		t.Fatalf("run 1: exit %d, want %d\n%s", res.code, ExitRows, res.stderr)
	}
	id1 := onlyRunID(t, res.stderr)
	sum := summaryOf(t, s1)
	for key, want := range map[string]any{
		"run_id": id1, "operator": operator(), "host": host, "instance": instance, "provider": "concur", "sandbox": false,
		"admin_token_fingerprint": input.Fingerprint(testAdminToken), "run_requests": float64(fin.Requests), "failed": 1.0,
		"first_started": sum["run_started"],
	} {
		if sum[key] != want {
			t.Errorf("run 1 summary %s = %v, want %v", key, sum[key], want)
		}
	}
	wantLine := append([]string{"run", "--base-url", srv.url, "--log-format", "json"}, args1...)
	if got := fmt.Sprint(sum["command_line"]); got != fmt.Sprint(wantLine) {
		t.Errorf("command_line %s, want %v", got, wantLine)
	}
	for _, gone := range []string{"start", "end", "requests"} {
		if _, ok := sum[gone]; ok {
			t.Errorf("summary still has the ambiguous key %q", gone)
		}
	}
	meta := sidecarOf(t, out)
	if len(meta.Runs) != 1 {
		t.Fatalf("sidecar lists %d runs, want 1", len(meta.Runs))
	}
	r1 := meta.Runs[0]
	if r1.RunID != id1 || r1.ExitCode == nil || *r1.ExitCode != ExitRows || r1.Rows["failed"] != 1 || r1.Requests != fin.Requests ||
		!r1.NewFile || r1.Ended.Before(r1.Started) || r1.Input != in.path || r1.InputSHA256 != sha256File(t, in.path) || r1.Instance != instance {
		t.Errorf("run 1 in the sidecar: %+v", r1)
	}

	// Run 2: --retry-failed sends the failed row again; its first record
	// moves to the history file.
	failing.Store(false)
	res, fin = runJob(t, srv, testAdminToken, "--resume", "--retry-failed", "--rate", "0", "--summary", s2, "--out", out, in.path)
	if res.code != ExitOK || fin.Requests != 1 {
		t.Fatalf("run 2: exit %d, %d requests; want 0 and 1\n%s", res.code, fin.Requests, res.stderr)
	}
	id2 := onlyRunID(t, res.stderr)
	sum2 := summaryOf(t, s2)
	if sum2["first_started"] != sum["run_started"] || sum2["run_started"] == sum["run_started"] || sum2["run_requests"] != 1.0 ||
		sum2["done"] != float64(len(rows)) || sum2["failed"] != 0.0 || sum2["run_id"] != id2 {
		t.Errorf("run 2 summary: first_started %v run_started %v run_requests %v done %v failed %v; want the campaign's start, this run's, 1, %d, 0",
			sum2["first_started"], sum2["run_started"], sum2["run_requests"], sum2["done"], sum2["failed"], len(rows))
	}
	history := readOutcomes(t, journal.HistoryPath(out))
	if len(history) != 1 || history[3].Status != revoke.Failed || history[3].RunID != id1 {
		t.Errorf("history after --retry-failed: %+v, want run 1's failed record of line 3", history)
	}
	if fi, err := os.Lstat(journal.HistoryPath(out)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history mode %v (%v), want 0600", fi.Mode(), err)
	}
	if now := readOutcomes(t, out); now[3].Status == revoke.Failed || now[3].RunID != id2 {
		t.Errorf("line 3 now %+v, want run 2's answer", now[3])
	}
	meta = sidecarOf(t, out)
	if len(meta.Runs) != 2 || meta.Runs[0].RunID != id1 || meta.Runs[1].RunID != id2 || !meta.Runs[1].RetryFailed || *meta.Runs[1].ExitCode != ExitOK || meta.Runs[1].NewFile {
		t.Errorf("sidecar runs after run 2: %+v", meta.Runs)
	}

	// Run 3: another input, accepted with --ignore-input-change: the
	// file's input changes, run 1's stays as it read it.
	more := append(rows, liveRows(srv.Server, "h2", 1, 0)...)
	in2 := writeRows(t, dir, "in2.csv", more)
	res, _ = runJob(t, srv, testAdminToken, "--resume", "--ignore-input-change", "--rate", "0", "--summary", s3, "--out", out, in2.path)
	if res.code != ExitOK {
		t.Fatalf("run 3: exit %d\n%s", res.code, res.stderr)
	}
	meta = sidecarOf(t, out)
	if len(meta.Runs) != 3 || meta.Input != in2.path || meta.InputSHA256 != sha256File(t, in2.path) ||
		meta.Runs[0].Input != in.path || meta.Runs[0].InputSHA256 != sha256File(t, in.path) || !meta.Runs[2].InputChanged || meta.Runs[1].InputChanged {
		t.Errorf("sidecar after --ignore-input-change: input %s %s, runs %+v", meta.Input, meta.InputSHA256, meta.Runs)
	}

	// Run 4: --force starts over; the replaced file's records go to the
	// history, its runs stay listed, and the campaign starts again.
	before := readOutcomes(t, out)
	res, _ = runJob(t, srv, testAdminToken, "--force", "--rate", "0", "--summary", s4, "--out", out, in2.path)
	if res.code != ExitOK {
		t.Fatalf("run 4: exit %d\n%s", res.code, res.stderr)
	}
	var kept int
	if _, err := journal.Read(journal.HistoryPath(out), func(revoke.Outcome) error { kept++; return nil }); err != nil {
		t.Fatal(err)
	}
	if kept != 1+len(before) {
		t.Errorf("history holds %d records after --force, want %d", kept, 1+len(before))
	}
	meta = sidecarOf(t, out)
	sum4 := summaryOf(t, s4)
	if len(meta.Runs) != 4 || !meta.Runs[3].NewFile || sum4["first_started"] != sum4["run_started"] {
		t.Errorf("after --force: %d runs, new_file %v, first_started %v run_started %v", len(meta.Runs), meta.Runs[len(meta.Runs)-1].NewFile, sum4["first_started"], sum4["run_started"])
	}
	b, _ := os.ReadFile(journal.MetaPath(out))
	if strings.Contains(string(b), testAdminToken) {
		t.Error("the sidecar holds the admin token")
	}

	// lookup reads the history file like any outcome file: the failed
	// row's whole story, oldest first.
	pair := strings.Replace(strings.TrimPrefix(victim, "user:"), "/", ",", 1)
	look := runMain(t, t.Context(), nil, pair+"\n", "lookup", journal.HistoryPath(out), out)
	if look.code != ExitOK || strings.Count(look.stdout, ",failed,") != 1 || strings.Count(look.stdout, ",revoked,") != 1 || strings.Count(look.stdout, ",not_found,") != 1 ||
		strings.Index(look.stdout, ",failed,") > strings.Index(look.stdout, ",revoked,") {
		t.Errorf("lookup of %s over the history and the file: exit %d\n%s%s", pair, look.code, look.stdout, look.stderr)
	}
}

// TestRunRecordCredentials: the run record names credentials only by
// fingerprint: Concur's admin token, RFC 7009's client ID and secret; a
// sandbox run has none of the operator's.
func TestRunRecordCredentials(t *testing.T) {
	t.Parallel()
	con := newRunRecord(Config{runID: "r", Provider: ProviderConcur, Settings: &concur.Settings{AdminToken: "adm1n-s3cret"}}, nil, time.Now())
	if con.AdminTokenFingerprint != input.Fingerprint("adm1n-s3cret") || con.ClientID != "" || con.ClientSecretFingerprint != "" {
		t.Errorf("concur record %+v", con)
	}
	rfc := newRunRecord(Config{runID: "r", Provider: ProviderRFC7009, Settings: &rfc7009.Settings{ClientID: "app-7", ClientSecret: "cl13nt-s3cret"}}, []string{"--provider", "rfc7009"}, time.Now())
	if rfc.ClientID != "app-7" || rfc.ClientSecretFingerprint != input.Fingerprint("cl13nt-s3cret") || rfc.AdminTokenFingerprint != "" {
		t.Errorf("rfc7009 record %+v", rfc)
	}
	sandbox := newRunRecord(Config{runID: "r", Provider: ProviderConcur, Sandbox: true, Settings: &concur.Settings{Sandbox: true, AdminToken: "made-up-s3cret"}}, nil, time.Now())
	if sandbox.AdminTokenFingerprint != "" || !sandbox.Sandbox {
		t.Errorf("sandbox record %+v", sandbox)
	}
	for _, r := range []any{con, rfc, sandbox} {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("record holds a secret: %s", b)
		}
	}
	if operator() == "" {
		t.Error("no operator name")
	}
}
