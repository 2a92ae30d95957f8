package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestResumeWithoutOutcomes covers what a kill leaves between creating the
// outcome file and writing its sidecar: an outcome file with no outcome and
// no sidecar, or a stale sidecar of another input (a --force restart). Such
// a file has nothing to mix up, so --resume must run, not refuse; a file
// that holds outcomes but no sidecar must still be refused. (An empty CSV
// file is not among them: Create never leaves an outcome file without its
// header, so an empty one is not ours; TestResumeOnlyOutcomeFiles.)
func TestResumeWithoutOutcomes(t *testing.T) {
	t.Parallel()
	header := "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id\n"
	cases := []struct {
		name     string
		outcomes string // the outcome file left behind
		meta     string // its sidecar, "" for none
		wantCode int
	}{
		{"header only, no sidecar", header, "", ExitOK},
		{"header and a torn line, no sidecar", header + "2,token,sha256:ab", "", ExitOK},
		{"header only, sidecar of another input", header, `{"input":"old.csv","input_sha256":"00"}`, ExitOK},
		{"outcomes, no sidecar", header + "2,token,sha256:0123456789abcdef,,revoked,200,1,,,5,,\n", "", ExitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sim.Config{}, nil)
			dir := t.TempDir()
			in := writeRows(t, dir, "in.csv", liveRows(srv.Server, "m", 5, 1))
			out := writeFile(t, dir, "out.csv", tc.outcomes)
			if tc.meta != "" {
				writeFile(t, dir, "out.csv.meta.json", tc.meta)
			}
			res, _ := runJobOrRefusal(t, srv, "--resume", "--rate", "0", "--out", out, in.path)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tc.wantCode, res.stderr)
			}
			if tc.wantCode == ExitUsage {
				if !strings.Contains(res.stderr, "--ignore-input-change") || srv.hits.Load() != 0 {
					t.Errorf("refusal sent %d requests or gives no way out:\n%s", srv.hits.Load(), res.stderr)
				}
				return
			}
			checkExact(t, srv, in, out, 0)
			// The sidecar now vouches for this input: a later resume
			// checks against it.
			var meta journal.Meta
			b, err := os.ReadFile(journal.MetaPath(out))
			if err != nil || json.Unmarshal(b, &meta) != nil || meta.InputSHA256 != sha256File(t, in.path) {
				t.Errorf("sidecar after the run: %s (%v)", b, err)
			}
		})
	}
}

// runJobOrRefusal is runJob for runs that may be refused (exit 2).
func runJobOrRefusal(t *testing.T, srv *server, args ...string) (result, *finished) {
	t.Helper()
	all := append([]string{"run", "--base-url", srv.url, "--log-format", "json"}, args...)
	res := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "", all...)
	if res.code == ExitUsage {
		return res, nil
	}
	f := finishedLine(t, res.stderr)
	return res, &f
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestResumeRedoesTornLastLine stops a run, then cuts its outcome file in
// the middle of the last record, as a kill during write(2) would. Resume
// must drop the torn record, send that row again (it meets a target already
// revoked: not_found, not failed) and send no other recorded row.
func TestResumeRedoesTornLastLine(t *testing.T) {
	t.Parallel()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	srv, seen := countingServer(t, sim.Config{Latency: 20 * time.Millisecond}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 10 {
			stop()
		}
		return false
	})
	in := writeRows(t, t.TempDir(), "in.csv", liveRows(srv.Server, "t", 30, 5))
	out := outPath(t, "out.csv")
	res, first := runJobCtx(t, ctx, srv, testAdminToken, "--rate", "0", "--concurrency", "4", "--out", out, in.path)
	if res.code != ExitStopped {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}

	var recorded []revoke.Outcome
	if _, err := journal.Read(out, func(o revoke.Outcome) error { recorded = append(recorded, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recorded) < 2 {
		t.Fatalf("only %d rows recorded before the stop", len(recorded))
	}
	torn := recorded[len(recorded)-1]
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lastStart := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	cut := data[:lastStart+(len(data)-lastStart)/2]
	if err := os.WriteFile(out, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	before := seen.snapshot()

	res, second := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--concurrency", "4", "--out", out, in.path)
	if res.code != ExitOK {
		t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
	}
	// The torn record's attempts were lost with it.
	got := checkExact(t, srv, in, out, first.Unrecorded+second.Unrecorded+int64(torn.Attempts))
	after := seen.snapshot()
	for _, o := range recorded {
		k := in.rows[o.Line].key
		switch resent := after[k] - before[k]; {
		case o.Line == torn.Line && resent != 1:
			t.Errorf("torn line %d sent %d times on resume, want once", o.Line, resent)
		case o.Line != torn.Line && resent != 0:
			t.Errorf("line %d was recorded, yet resume sent it %d times", o.Line, resent)
		}
	}
	if o := got[torn.Line]; o.Status != revoke.NotFound {
		t.Errorf("torn line %d redone as %s, want not_found (its target was revoked before the cut)", torn.Line, o.Status)
	}
}

// TestResumeRefusesDamagedJournal: anything unreadable in the outcome file
// other than a torn last line stops a resume before anything is sent, names
// the line, and leaves the file as it was.
func TestResumeRefusesDamagedJournal(t *testing.T) {
	t.Parallel()
	header := "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id\n"
	good := "2,token,sha256:0123456789abcdef,,revoked,200,1,,,5,,\n"
	cases := []struct {
		name, outcomes, want string
	}{
		{"unknown status", header + good + "3,token,sha256:0123456789abcdee,,maybe,200,1,,,5,,\n" + good, "line 3"},
		{"missing columns", header + good + "3,token\n" + good, "line 3"},
		{"not an outcome file", "token,user,consumerKey\nabc,,\n", "line 1"},
		{"line number zero", header + "0,token,sha256:0123456789abcdef,,revoked,200,1,,,5,,\n", "line 2"},
		{"token row naming a token, not a fingerprint", header + good + "3,token,tok-d-0001,,revoked,200,1,,,5,,\n", "line 3"},
		{"token row with a 48-bit fingerprint", header + good + "3,token,sha256:0123456789ab,,revoked,200,1,,,5,,\n", "line 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sim.Config{}, nil)
			dir := t.TempDir()
			in := writeRows(t, dir, "in.csv", liveRows(srv.Server, "d", 3, 0))
			out := writeFile(t, dir, "out.csv", tc.outcomes)
			writeFile(t, dir, "out.csv.meta.json", `{"input":"in.csv","input_sha256":"`+sha256File(t, in.path)+`"}`)
			res, _ := runJobOrRefusal(t, srv, "--resume", "--rate", "0", "--out", out, in.path)
			if res.code != ExitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want %d naming %q:\n%s", res.code, ExitUsage, tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, "tok-d-0001") {
				t.Errorf("the refusal quotes a token:\n%s", res.stderr)
			}
			if n := srv.hits.Load(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
			if b, _ := os.ReadFile(out); string(b) != tc.outcomes {
				t.Errorf("refused resume changed the outcome file:\n%s", b)
			}
		})
	}
}

// TestResumeRetryFailed: --resume alone leaves failed rows alone;
// --retry-failed sends them, and only them, again; the completed file has
// one row per input row, the latest outcome.
func TestResumeRetryFailed(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	srv, seen := countingServer(t, sim.Config{Fault: func(_ int64, r *http.Request) sim.Fault {
		if down.Load() && hashOf(requestKey(r))%4 == 0 {
			return sim.Status503
		}
		return sim.None
	}}, nil)
	in := writeRows(t, t.TempDir(), "in.csv", liveRows(srv.Server, "r", 20, 4))
	out := outPath(t, "out.csv")
	args := []string{"--rate", "0", "--max-attempts", "2", "--out", out, in.path}

	res, _ := runJob(t, srv, testAdminToken, args...)
	if res.code != ExitRows {
		t.Fatalf("first run: exit %d:\n%s", res.code, res.stderr)
	}
	failed := map[int64]bool{}
	for line, o := range readOutcomes(t, out) {
		if o.Status == revoke.Failed {
			failed[line] = true
		}
	}
	if len(failed) == 0 || len(failed) == len(in.rows) {
		t.Fatalf("%d of %d rows failed: the case tests nothing", len(failed), len(in.rows))
	}

	sent := srv.hits.Load()
	res, _ = runJob(t, srv, testAdminToken, append([]string{"--resume"}, args...)...)
	if res.code != ExitRows || srv.hits.Load() != sent {
		t.Fatalf("--resume alone: exit %d, %d requests:\n%s", res.code, srv.hits.Load()-sent, res.stderr)
	}

	down.Store(false)
	before := seen.snapshot()
	res, _ = runJob(t, srv, testAdminToken, append([]string{"--resume", "--retry-failed"}, args...)...)
	if res.code != ExitOK {
		t.Fatalf("--retry-failed: exit %d:\n%s", res.code, res.stderr)
	}
	after := seen.snapshot()
	for line, r := range in.rows {
		want := int64(0)
		if failed[line] {
			want = 1
		}
		if got := after[r.key] - before[r.key]; got != want {
			t.Errorf("line %d (failed before: %v) sent %d times by --retry-failed", line, failed[line], got)
		}
	}
	got := readOutcomes(t, out)
	if len(got) != len(in.rows) {
		t.Errorf("%d outcomes for %d rows", len(got), len(in.rows))
	}
	for line, o := range got {
		if o.Status != revoke.Revoked || !revokedOnServer(srv.Server, in.rows[line].key) {
			t.Errorf("line %d: %s", line, o.Status)
		}
	}
}

// TestResumeChecksInputContent: the sidecar ties the outcome file to the
// input's content, not its name.
func TestResumeChecksInputContent(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	dir := t.TempDir()
	in := writeRows(t, dir, "in.csv", liveRows(srv.Server, "i", 4, 1))
	out := filepath.Join(dir, "out.csv")
	if res, _ := runJob(t, srv, testAdminToken, "--rate", "0", "--out", out, in.path); res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	done, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(in.path)
	renamed := writeFile(t, dir, "renamed.csv", string(content))
	changed := writeFile(t, dir, "changed.csv", string(content)+"tok-i-extra,,\n")
	srv.AddToken("tok-i-extra")

	steps := []struct {
		name  string
		args  []string
		want  int
		sends int64
	}{
		{"same file again: nothing left to send", []string{in.path}, ExitOK, 0},
		{"same content, another name", []string{renamed}, ExitOK, 0},
		{"changed content", []string{changed}, ExitUsage, 0},
		{"changed content, insisting", []string{"--ignore-input-change", changed}, ExitOK, 1},
		{"the insisted input is now the one on record", []string{changed}, ExitOK, 0},
	}
	for _, st := range steps { // in order: each step builds on the last
		sent := srv.hits.Load()
		res, _ := runJobOrRefusal(t, srv, append([]string{"--resume", "--rate", "0", "--out", out}, st.args...)...)
		if res.code != st.want || srv.hits.Load()-sent != st.sends {
			t.Errorf("%s: exit %d, %d requests; want exit %d, %d requests:\n%s", st.name, res.code, srv.hits.Load()-sent, st.want, st.sends, res.stderr)
		}
		if st.want == ExitUsage && !strings.Contains(res.stderr, "not the input") {
			t.Errorf("%s: refusal does not say why:\n%s", st.name, res.stderr)
		}
		if st.name == "same content, another name" {
			if b, _ := os.ReadFile(out); !bytes.Equal(b, done) {
				t.Errorf("%s: a resume with nothing to do changed the outcome file", st.name)
			}
		}
	}
}

// TestResumeRefusesLinesTheInputLacks appends by hand, to the outcome file of
// a completed run, a record for a line on which no row of the input starts:
// past the end (line 5000 of a 50-row input), the header's line, a line of
// another shard. Resume must refuse it before sending anything (exit 2,
// naming the line) and leave the file as it was, so that no "complete" file
// ever holds a row the input does not have.
func TestResumeRefusesLinesTheInputLacks(t *testing.T) {
	t.Parallel()
	shardOf := func(rows []inputRow, s input.Shard, want bool) int64 {
		for i, r := range rows {
			tok := strings.TrimSuffix(r.csv, ",,")
			if s.Owns(input.Row{Kind: input.KindToken, Token: tok}) == want {
				return int64(i + 2)
			}
		}
		t.Fatal("no row found")
		return 0
	}
	cases := []struct {
		name  string
		out   string
		shard string
		// line is the forged record's line, given the input's rows.
		line func([]inputRow) int64
	}{
		{"line 5000 of 50, csv", "out.csv", "", func([]inputRow) int64 { return 5000 }},
		{"line 5000 of 50, jsonl", "out.jsonl", "", func([]inputRow) int64 { return 5000 }},
		{"the header's line", "out.csv", "", func([]inputRow) int64 { return 1 }},
		{"one past the last row", "out.csv", "", func(rows []inputRow) int64 { return int64(len(rows) + 2) }},
		{"a row of another shard", "out.csv", "0/2", func(rows []inputRow) int64 {
			return shardOf(rows, input.Shard{Index: 0, Count: 2}, false)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sim.Config{}, nil)
			rows := liveRows(srv.Server, "lack", 50, 0)
			in := writeRows(t, t.TempDir(), "in.csv", rows)
			out := outPath(t, tc.out)
			args := []string{"--rate", "0", "--out", out}
			if tc.shard != "" {
				args = append(args, "--shard", tc.shard)
			}
			res, _ := runJob(t, srv, testAdminToken, append(args, in.path)...)
			if res.code != ExitOK {
				t.Fatalf("first run: exit %d:\n%s", res.code, res.stderr)
			}
			line := tc.line(rows)
			forged := revoke.Outcome{Line: line, Kind: input.KindToken, Target: input.Fingerprint("tok-forged"), Status: revoke.Revoked, HTTPStatus: 200, Attempts: 1}
			w, err := journal.Append(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(forged); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			tampered, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sent := srv.hits.Load()

			for _, extra := range [][]string{{"--resume"}, {"--resume", "--ignore-input-change"}, {"--resume", "--retry-failed"}} {
				res, _ = runJobOrRefusal(t, srv, append(append(extra, args...), in.path)...)
				if want := fmt.Sprintf("outcome for line %d,", line); res.code != ExitUsage || !strings.Contains(res.stderr, want) {
					t.Errorf("%v: exit %d, want %d naming %q:\n%s", extra, res.code, ExitUsage, want, res.stderr)
				}
				if n := srv.hits.Load() - sent; n != 0 {
					t.Errorf("%v: %d requests sent", extra, n)
				}
				if b, _ := os.ReadFile(out); !bytes.Equal(b, tampered) {
					t.Errorf("%v: the refused resume changed the outcome file", extra)
				}
			}
		})
	}
}
