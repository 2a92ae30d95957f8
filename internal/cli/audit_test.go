package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
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
