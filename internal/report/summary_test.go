package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

func TestTallyFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		ext    string
		outs   []revoke.Outcome
		tail   string // appended raw, e.g. a torn line
		want   map[revoke.Status]int64
		reqs   int64
		hasErr string
	}{
		{
			name: "one record a line", ext: ".csv",
			outs: []revoke.Outcome{outcome(2, revoke.Revoked, ""), outcome(3, revoke.NotFound, ""), outcome(4, revoke.Invalid, "")},
			want: map[revoke.Status]int64{revoke.Revoked: 1, revoke.NotFound: 1, revoke.Invalid: 1}, reqs: 3,
		},
		{
			name: "redone line counts once, last wins", ext: ".jsonl",
			outs: []revoke.Outcome{outcome(2, revoke.Failed, ""), outcome(3, revoke.Revoked, ""), outcome(2, revoke.Revoked, "")},
			want: map[revoke.Status]int64{revoke.Revoked: 2, revoke.Failed: 0}, reqs: 3,
		},
		{
			name: "redone twice, out of order", ext: ".csv",
			outs: []revoke.Outcome{outcome(5, revoke.Failed, ""), outcome(2, revoke.Duplicate, ""), outcome(5, revoke.Failed, ""), outcome(5, revoke.NotFound, "")},
			want: map[revoke.Status]int64{revoke.NotFound: 1, revoke.Duplicate: 1, revoke.Failed: 0}, reqs: 4,
		},
		{
			name: "torn last line not counted", ext: ".jsonl",
			outs: []revoke.Outcome{outcome(2, revoke.Revoked, "")},
			tail: `{"line":3,"kind":"token","status":"revoked"`,
			want: map[revoke.Status]int64{revoke.Revoked: 1}, reqs: 1,
		},
		{
			name: "absurd line number", ext: ".jsonl",
			outs:   []revoke.Outcome{outcome(1<<40, revoke.Revoked, "")},
			hasErr: "want an input line number >= 1 and <",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out"+tc.ext)
			writeOutcomes(t, path, tc.outs...)
			if tc.tail != "" {
				appendBytes(t, path, tc.tail)
			}
			got, err := TallyFile(path)
			if tc.hasErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.hasErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.hasErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for s, n := range tc.want {
				if got.ByStatus[s] != n {
					t.Errorf("%s: %d, want %d (all: %v)", s, got.ByStatus[s], n, got.ByStatus)
				}
			}
			if got.Requests != tc.reqs {
				t.Errorf("requests %d, want %d", got.Requests, tc.reqs)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		if _, err := TallyFile(filepath.Join(t.TempDir(), "none.csv")); err == nil {
			t.Error("no error for a missing outcome file")
		}
	})
}

// TestTallyFileAgreesWithCompact: counting a journal full of redos must give
// what counting its compacted form gives, since that is what resume and the
// summary rely on.
func TestTallyFileAgreesWithCompact(t *testing.T) {
	t.Parallel()
	statuses := Statuses()
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, 11)) // one per subtest: they run in parallel
			var outs []revoke.Outcome
			for range 2000 {
				outs = append(outs, outcome(1+rng.Int64N(500), statuses[rng.IntN(len(statuses))], ""))
			}
			path := filepath.Join(t.TempDir(), "out"+ext)
			writeOutcomes(t, path, outs...)
			before, err := TallyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := journal.Compact(path); err != nil {
				t.Fatal(err)
			}
			var after Tally
			if _, err := journal.Read(path, func(o revoke.Outcome) error { after.Add(o); return nil }); err != nil {
				t.Fatal(err)
			}
			for _, s := range statuses {
				if before.ByStatus[s] != after.ByStatus[s] {
					t.Errorf("%s: TallyFile %d, compacted file %d", s, before.ByStatus[s], after.ByStatus[s])
				}
			}
			if before.Rows() != after.Rows() {
				t.Errorf("rows: TallyFile %d, compacted file %d", before.Rows(), after.Rows())
			}
		})
	}
}

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(path, []byte("an older, longer document that must vanish entirely\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	byStatus := map[revoke.Status]int64{}
	var want int64
	for i, s := range Statuses() {
		byStatus[s] = int64(10 + i) // distinct, so a swapped key shows
		want += int64(10 + i)
	}
	start := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s := Summary{Version: "v1.2.3", Input: "in.csv", OutcomeFile: "out.csv", Start: start, End: start.Add(90 * time.Second),
		DurationS: 90, ExitCode: 1, InputRows: want, Requests: 99, Retries: 4, AchievedRate: 1.1, ConfiguredRate: 25, SettledRate: 20}
	s.SetRows(byStatus)
	if err := WriteSummary(path, s); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, b)
	}
	for st, n := range byStatus {
		if got, ok := doc[string(st)].(float64); !ok || int64(got) != n {
			t.Errorf("key %q = %v, want %d", st, doc[string(st)], n)
		}
	}
	for key, want := range map[string]any{
		"done": float64(want), "run_requests": 99.0, "run_retries": 4.0, "exit_code": 1.0, "version": "v1.2.3",
		"input": "in.csv", "outcome_file": "out.csv", "settled_rate": 20.0, "configured_rate": 25.0,
		"run_started": "2025-03-04T05:06:07Z", "run_ended": "2025-03-04T05:07:37Z", "run_duration_s": 90.0,
	} {
		if doc[key] != want {
			t.Errorf("%s = %v, want %v", key, doc[key], want)
		}
	}
	if _, ok := doc["error"]; ok {
		t.Errorf("error key present for a run without one: %v", doc["error"])
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteSummary(filepath.Join(dir, "no-such-dir", "s.json"), s); err == nil {
		t.Error("no error writing into a missing directory")
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	s := Summary{OutcomeFile: "/data/out.csv", ExitCode: 1, DurationS: 3.2, InputRows: 9}
	s.SetRows(map[revoke.Status]int64{revoke.Revoked: 5, revoke.Failed: 2, revoke.Invalid: 1, revoke.Duplicate: 1})
	var b bytes.Buffer
	advice := []string{"Send the 2 failed rows again:", "  bulkrevoke run --resume --retry-failed --out /data/out.csv in.csv"}
	if err := WriteText(&b, s, advice); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"exit code 1", "revoked             5", "failed              2", "invalid             1",
		"not_found           0", "rows                9 of 9 in the input", "Outcomes: /data/out.csv", advice[0], advice[1],
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

// TestWriteTextSaysHowItEnded: each exit code reads as what it means.
func TestWriteTextSaysHowItEnded(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{
		0: "bulkrevoke finished in", 1: "finished with failed rows to look at", 2: "stopped early",
		3: "stopped early", 4: "finished with invalid rows to fix",
	} {
		var b strings.Builder
		if err := WriteText(&b, Summary{ExitCode: code, InputRows: -1}, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("exit %d: %q lacks %q", code, b.String(), want)
		}
	}
}

// TestTallyFanOutAgreesWithCompact: with user rows fanned out over
// applications, each (line, consumer key) counts once by its last record,
// as compaction keeps it.
func TestTallyFanOutAgreesWithCompact(t *testing.T) {
	t.Parallel()
	statuses := Statuses()
	keys := []string{"ck-a", "ck-b", "ck-c"}
	rng := rand.New(rand.NewPCG(3, 5))
	var outs []revoke.Outcome
	for range 2000 {
		o := outcome(1+rng.Int64N(300), statuses[rng.IntN(len(statuses))], "")
		o.Kind, o.Target, o.ConsumerKey = "user", "bo@example.com", keys[rng.IntN(len(keys))]
		outs = append(outs, o)
	}
	path := filepath.Join(t.TempDir(), "out.csv")
	writeOutcomes(t, path, outs...)
	before, err := TallyFanOut(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	byLine, err := TallyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := journal.Compact(path); err != nil {
		t.Fatal(err)
	}
	var after Tally
	if _, err := journal.Read(path, func(o revoke.Outcome) error { after.Add(o); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if before.ByStatus[s] != after.ByStatus[s] {
			t.Errorf("%s: TallyFanOut %d, compacted file %d", s, before.ByStatus[s], after.ByStatus[s])
		}
	}
	if before.Rows() != after.Rows() || byLine.Rows() >= after.Rows() {
		t.Errorf("rows: TallyFanOut %d, by line %d, compacted file %d", before.Rows(), byLine.Rows(), after.Rows())
	}
}
