package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }

// writeOutcomes writes an outcome file holding os, in that order.
func writeOutcomes(t *testing.T, path string, os ...revoke.Outcome) string {
	t.Helper()
	w, err := journal.Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range os {
		if err := w.Write(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeText(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// at is a settled_at time, minutes and seconds after 22:00.
func at(min, sec int) string {
	return revoke.SettledTime(time.Date(2026, 12, 1, 22, min, sec, 0, time.UTC))
}

func tok(line int64, token string, s revoke.Status, settled string) revoke.Outcome {
	o := revoke.Outcome{Line: line, Kind: input.KindToken, Target: input.Fingerprint(token), Status: s, SettledAt: settled, RunID: "run0"}
	if s == revoke.Revoked || s == revoke.NotFound || s == revoke.Failed {
		o.Attempts, o.HTTPStatus = 1, 200
	}
	if s == revoke.Failed {
		o.HTTPStatus, o.Error = 503, "concur: 503: down"
	}
	return o
}

func usr(line int64, user, key string, s revoke.Status, settled string) revoke.Outcome {
	o := tok(line, "", s, settled)
	o.Kind, o.Target, o.ConsumerKey = input.KindUser, user, key
	return o
}

// The input of most tests: a header, tokens and user rows, a quoted
// record spanning two lines, CRLF line ends on one row, a blank line, and
// an invalid row.
const inputCSV = "token,user,consumerKey\n" + // 1
	"tok-alpha,,\n" + // 2
	"tok-bravo,,\n" + // 3
	",\"vicky\nsecond line\",key1\n" + // 4-5
	"tok-charlie,,\r\n" + // 6
	"\n" + // 7
	"tok-delta,,\n" + // 8
	"tok-echo,extra,\n" + // 9: invalid (token and user)
	"tok-foxtrot,,\n" // 10

// covering returns outcomes for every row of inputCSV, split over three
// shards, the last shard unsorted with a line recorded twice.
func covering(t *testing.T, dir string) []string {
	t.Helper()
	a := writeOutcomes(t, filepath.Join(dir, "o-0.csv"),
		tok(2, "tok-alpha", revoke.Revoked, at(1, 5)),
		usr(4, "vicky\nsecond line", "key1", revoke.Revoked, at(1, 30)))
	b := writeOutcomes(t, filepath.Join(dir, "o-1.jsonl"),
		tok(3, "tok-bravo", revoke.NotFound, at(1, 10)),
		tok(6, "tok-charlie", revoke.Failed, at(2, 0)))
	c := writeOutcomes(t, filepath.Join(dir, "o-2.csv"),
		tok(10, "tok-foxtrot", revoke.Failed, at(3, 1)), // redone below
		revoke.Outcome{Line: 9, Kind: input.KindToken, Target: input.Fingerprint("tok-echo"), Status: revoke.Invalid, Error: "both token and user", SettledAt: at(1, 0)},
		tok(8, "tok-delta", revoke.Revoked, at(3, 0)),
		tok(10, "tok-foxtrot", revoke.Revoked, at(4, 2)))
	return []string{a, b, c}
}

func TestReportMergesShards(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
	files := covering(t, dir)
	out := filepath.Join(dir, "merged.csv")
	res, err := Report(Options{Files: files, Input: in, Out: out, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Coverage.OK() || res.Coverage.InputRows != 7 || res.Coverage.Covered != 7 {
		t.Errorf("coverage %+v, want all 7 rows covered once", res.Coverage)
	}
	want := map[revoke.Status]int64{revoke.Revoked: 4, revoke.NotFound: 1, revoke.Failed: 1, revoke.Invalid: 1}
	for s, n := range want {
		if res.ByStatus[s] != n {
			t.Errorf("%s: %d, want %d (all: %v)", s, res.ByStatus[s], n, res.ByStatus)
		}
	}
	if res.ExitCode != ExitProblems {
		t.Errorf("exit %d with a failed row, want %d", res.ExitCode, ExitProblems)
	}
	// The merged file is an outcome file: one row a line, sorted, the
	// last record of a redone line, mode 0600.
	var lines []int64
	var foxtrot revoke.Outcome
	if _, err := journal.Read(out, func(o revoke.Outcome) error {
		lines = append(lines, o.Line)
		if o.Line == 10 {
			foxtrot = o
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lines) != "[2 3 4 6 8 9 10]" {
		t.Errorf("merged lines %v, want [2 3 4 6 8 9 10]", lines)
	}
	if foxtrot.Status != revoke.Revoked || foxtrot.SettledAt != at(4, 2) {
		t.Errorf("line 10 merged as %+v, want the later record (revoked)", foxtrot)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("merged file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if err := journal.Check(out); err != nil {
		t.Errorf("merged file is not an outcome file a resume accepts: %v", err)
	}
	if res.Files[2].Compacted || !res.Files[0].Compacted {
		t.Errorf("compacted flags %v %v %v, want true true false", res.Files[0].Compacted, res.Files[1].Compacted, res.Files[2].Compacted)
	}
}

// TestReportUnsortedInChunks: a stopped run's journal, out of order and
// with redone lines, gives the same merge when read a chunk of lines at a
// time as when read whole.
func TestReportUnsortedInChunks(t *testing.T) {
	dir := t.TempDir()
	var os []revoke.Outcome
	for i := range int64(3000) {
		line := 2 + (i*7919)%3000 // every line once, shuffled
		os = append(os, tok(line, fmt.Sprint("t", line), revoke.Failed, at(0, 0)))
	}
	for line := int64(2); line < 3002; line += 3 {
		os = append(os, tok(line, fmt.Sprint("t", line), revoke.Revoked, at(1, 0)))
	}
	path := writeOutcomes(t, filepath.Join(dir, "o.csv"), os...)
	oldChunk, oldBucket := chunkRecords, bucketLines
	chunkRecords, bucketLines = 100, 16
	defer func() { chunkRecords, bucketLines = oldChunk, oldBucket }()
	f, err := survey(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.sorted || len(f.chunks()) < 10 {
		t.Fatalf("sorted %v, %d chunks: want an unsorted file read in many chunks", f.sorted, len(f.chunks()))
	}
	prev := int64(0)
	n := 0
	err = f.each(func(o revoke.Outcome) bool {
		n++
		if o.Line <= prev {
			t.Fatalf("line %d after %d", o.Line, prev)
		}
		prev = o.Line
		want := revoke.Failed
		if (o.Line-2)%3 == 0 {
			want = revoke.Revoked
		}
		if o.Status != want {
			t.Errorf("line %d: %s, want %s (the last record)", o.Line, o.Status, want)
		}
		return true
	})
	if err != nil || n != 3000 {
		t.Errorf("%d lines (%v), want 3000", n, err)
	}
}

func TestReportCoverageProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
	a := writeOutcomes(t, filepath.Join(dir, "a.csv"),
		tok(2, "tok-alpha", revoke.Revoked, at(1, 0)),
		tok(3, "tok-bravo", revoke.Revoked, at(1, 0)),
		tok(6, "another-token", revoke.Revoked, at(1, 0)), // other target
		tok(12, "tok-zulu", revoke.Revoked, at(1, 0)))     // not in input
	b := writeOutcomes(t, filepath.Join(dir, "b.csv"),
		tok(3, "tok-bravo", revoke.Failed, at(2, 0)), // conflict: a.csv has it too
		tok(9, "tok-echo", revoke.Invalid, at(2, 0)))
	// Missing: 4, 8, 10.
	res, err := Report(Options{Files: []string{a, b}, Input: in, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Coverage
	check := func(name string, p Problem, want string) {
		t.Helper()
		if got := fmt.Sprint(p.Count, p.Lines); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	check("missing", c.Missing, "3 [4 8 10]")
	check("conflicts", c.Conflicts, "1 [3]")
	check("other target", c.OtherTarget, "1 [6]")
	check("not in input", c.NotInInput, "1 [12]")
	if c.OK() || res.ExitCode != ExitProblems {
		t.Errorf("OK %v, exit %d: want not covered, exit 1", c.OK(), res.ExitCode)
	}
	// A conflict keeps the surer outcome.
	if res.ByStatus[revoke.Failed] != 0 || res.ByStatus[revoke.Revoked] != 4 {
		t.Errorf("counts %v: the conflicting line 3 should count once, as revoked", res.ByStatus)
	}
	v := c.Verdict()
	for _, s := range []string{"NOT COVERED", "3 lines without an outcome (lines 4, 8, 10)", "1 line with outcomes in more than one file (line 3)", "whose outcome names another target (line 6)", "no input row (line 12)"} {
		if !strings.Contains(v, s) {
			t.Errorf("verdict %q does not say %q", v, s)
		}
	}
	var problems []string
	for _, a := range res.Attention {
		problems = append(problems, fmt.Sprint(a.Line, " ", a.Problem))
	}
	if got := strings.Join(problems, ","); got != "3 conflict,4 missing,6 other_target,8 missing,9 invalid,10 missing,12 not_in_input" {
		t.Errorf("attention %s", got)
	}

	// More problems than are listed: the count is exact, the list short.
	var many []revoke.Outcome
	var text strings.Builder
	text.WriteString("token,user,consumerKey\n")
	for i := range int64(30) {
		text.WriteString(fmt.Sprintf("t%d,,\n", i))
		if i%2 == 0 {
			many = append(many, tok(i+2, fmt.Sprint("t", i), revoke.Revoked, at(1, 0)))
		}
	}
	in2 := writeText(t, filepath.Join(dir, "in2.csv"), text.String())
	half := writeOutcomes(t, filepath.Join(dir, "half.csv"), many...)
	res, err = Report(Options{Files: []string{half}, Input: in2, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Coverage.Missing.Count != 15 || len(res.Coverage.Missing.Lines) != firstFew || !strings.Contains(res.Coverage.Verdict(), "15 lines without an outcome (lines 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, …)") {
		t.Errorf("missing %+v: %s", res.Coverage.Missing, res.Coverage.Verdict())
	}
}

func TestReportWithoutInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeOutcomes(t, filepath.Join(dir, "a.csv"), tok(2, "x", revoke.Revoked, at(1, 0)))
	b := writeOutcomes(t, filepath.Join(dir, "b.csv"), tok(3, "y", revoke.NotFound, at(1, 0)))
	res, err := Report(Options{Files: []string{a, b}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != ExitOK || res.Coverage.Checked || !strings.Contains(res.Coverage.Verdict(), "not checked") {
		t.Errorf("exit %d, verdict %q: want 0, not checked", res.ExitCode, res.Coverage.Verdict())
	}
	c := writeOutcomes(t, filepath.Join(dir, "c.csv"), tok(3, "y", revoke.Revoked, at(1, 0)))
	res, err = Report(Options{Files: []string{a, b, c}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != ExitProblems || res.Coverage.Conflicts.Count != 1 {
		t.Errorf("exit %d, conflicts %+v: a line in two files is a problem even without --input", res.ExitCode, res.Coverage.Conflicts)
	}
}

func TestReportUnrevoked(t *testing.T) {
	t.Parallel()
	t.Run("csv", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
		files := covering(t, dir)[:2] // lines 8, 9 and 10 missing; 6 failed
		un := filepath.Join(dir, "again.csv")
		res, err := Report(Options{Files: files, Input: in, Unrevoked: un, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(un)
		if err != nil {
			t.Fatal(err)
		}
		want := "token,user,consumerKey\n" + "tok-charlie,,\r\n" + "tok-delta,,\n" + "tok-echo,extra,\n" + "tok-foxtrot,,\n"
		if string(b) != want {
			t.Errorf("unrevoked file:\n%q\nwant\n%q", b, want)
		}
		if res.Unrevoked != 4 {
			t.Errorf("Unrevoked = %d, want 4", res.Unrevoked)
		}
		if fi, _ := os.Stat(un); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600: it holds live tokens", fi.Mode())
		}
	})
	t.Run("multi-line record copied whole", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
		o := writeOutcomes(t, filepath.Join(dir, "o.csv"),
			tok(2, "tok-alpha", revoke.Revoked, at(1, 0)),
			usr(4, "vicky\nsecond line", "key1", revoke.Failed, at(1, 0)),
			tok(10, "tok-foxtrot", revoke.DryRun, at(1, 0)))
		un := filepath.Join(dir, "again.csv")
		if _, err := Report(Options{Files: []string{o}, Input: in, Unrevoked: un, Now: fixedNow}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(un)
		want := "token,user,consumerKey\n" + "tok-bravo,,\n" + ",\"vicky\nsecond line\",key1\n" + "tok-charlie,,\r\n" + "tok-delta,,\n" + "tok-echo,extra,\n" + "tok-foxtrot,,\n"
		if string(b) != want {
			t.Errorf("unrevoked file:\n%q\nwant\n%q", b, want)
		}
		// It is an input the tool reads back to the same rows.
		r, err := input.Open(bytes.NewReader(b), input.CSV)
		if err != nil {
			t.Fatal(err)
		}
		var users []string
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			users = append(users, row.User+row.Token)
		}
		if got := strings.Join(users, "|"); got != "tok-bravo|vicky\nsecond line|tok-charlie|tok-delta|extratok-echo|tok-foxtrot" {
			t.Errorf("rows read back: %q", got)
		}
	})
	t.Run("jsonl", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		in := writeText(t, filepath.Join(dir, "in.jsonl"), `{"token":"tok-alpha"}`+"\n\n"+`{"user":"bob","consumerKey":"k"}`+"\n"+`{"token":"tok-charlie"}`)
		o := writeOutcomes(t, filepath.Join(dir, "o.jsonl"), tok(1, "tok-alpha", revoke.Revoked, at(1, 0)), usr(3, "bob", "k", revoke.Failed, at(1, 0)))
		un := filepath.Join(dir, "again.jsonl")
		if _, err := Report(Options{Files: []string{o}, Input: in, Unrevoked: un, Now: fixedNow}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(un)
		if want := `{"user":"bob","consumerKey":"k"}` + "\n" + `{"token":"tok-charlie"}`; string(b) != want {
			t.Errorf("unrevoked file %q, want %q", b, want)
		}
	})
	t.Run("everything done: the header alone", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		in := writeText(t, filepath.Join(dir, "in.csv"), "token,user,consumerKey\ntok-alpha,,\n")
		o := writeOutcomes(t, filepath.Join(dir, "o.csv"), tok(2, "tok-alpha", revoke.NotFound, at(1, 0)))
		un := filepath.Join(dir, "again.csv")
		res, err := Report(Options{Files: []string{o}, Input: in, Unrevoked: un, Now: fixedNow})
		if err != nil || res.ExitCode != ExitOK {
			t.Fatalf("exit %d, %v", res.ExitCode, err)
		}
		if b, _ := os.ReadFile(un); string(b) != "token,user,consumerKey\n" {
			t.Errorf("unrevoked file %q, want the header alone", b)
		}
	})
}

func TestReportRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
	files := covering(t, dir)
	exists := writeText(t, filepath.Join(dir, "exists.csv"), "mine\n")
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(exists, link); err != nil {
		t.Fatal(err)
	}
	broken := writeText(t, filepath.Join(dir, "broken.csv"), "line,kind\n1,token\n")
	fifo := filepath.Join(dir, "pipe.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opt  Options
		want string
	}{
		{"no files", Options{}, "no outcome file"},
		{"unrevoked without input", Options{Files: files, Unrevoked: filepath.Join(dir, "u.csv")}, "--unrevoked needs --input"},
		{"out over an outcome file", Options{Files: files, Out: files[1], Force: true}, "also the outcome file"},
		{"out over the input", Options{Files: files, Input: in, Out: in, Force: true}, "also the --input"},
		{"out over a sidecar", Options{Files: files, Summary: files[0] + ".meta.json"}, "also the sidecar"},
		{"two outputs on one file", Options{Files: files, Summary: filepath.Join(dir, "s.json"), HTML: filepath.Join(dir, "s.json")}, "also the --summary"},
		{"existing output", Options{Files: files, Out: exists}, "add --force"},
		{"symbolic link even with force", Options{Files: files, Out: link, Force: true}, "symbolic link"},
		{"unrevoked in another format", Options{Files: files, Input: in, Unrevoked: filepath.Join(dir, "u.jsonl")}, "input's extension"},
		{"unreadable outcome file", Options{Files: append([]string{broken}, files...), Out: filepath.Join(dir, "new.csv")}, "broken.csv"},
		{"file named twice", Options{Files: []string{files[0], files[0]}}, "named twice"},
		{"input of unknown kind", Options{Files: files, Input: filepath.Join(dir, "in.txt")}, "unknown extension"},
		{"missing input", Options{Files: files, Input: filepath.Join(dir, "nope.csv")}, "nope.csv"},
		{"input not a regular file", Options{Files: files, Input: fifo}, "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Report(tc.opt)
			var ue *UsageError
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.name != "missing input" && !asUsage(err, &ue) {
				t.Errorf("error %v is not a usage error", err)
			}
		})
	}
	if b, _ := os.ReadFile(exists); string(b) != "mine\n" {
		t.Errorf("a refused output was written: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.csv")); err == nil {
		t.Error("an output was written although an outcome file was unreadable")
	}
	// With --force, a regular file of the operator's is replaced.
	if _, err := Report(Options{Files: files, Out: exists, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := journal.Check(exists); err != nil {
		t.Errorf("--force did not replace the file with the merged outcomes: %v", err)
	}
}

func asUsage(err error, ue **UsageError) bool {
	for err != nil {
		if u, ok := err.(*UsageError); ok {
			*ue = u
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestReportSummaryAndSidecars(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV)
	files := covering(t, dir)
	code := 1
	writeText(t, SidecarPath(files[0]), `{"input":"in.csv","input_sha256":"ab","shard":"0/3","sandbox":true,"runs":[
	 {"run_id":"r-late","operator":"bob","host":"h2","started":"2026-12-01T22:05:00Z","exit_code":1},
	 {"run_id":"r-first","new_file":true,"operator":"alice","host":"h1","instance":"us.api.concursolutions.com","admin_token_fingerprint":"sha256:feed","command_line":["run","--shard","0/3"],"started":"2026-12-01T22:00:00Z","ended":"2026-12-01T22:04:00Z","exit_code":1,"requests":9}]}`)
	sum := filepath.Join(dir, "s.json")
	if _, err := Report(Options{Files: files, Input: in, Summary: sum, Now: fixedNow, Version: "v9"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Done != 7 || s.InputRows != 7 || s.Revoked != 4 || s.Failed != 1 || s.Invalid != 1 || s.NotFound != 1 || !s.Covered || s.ExitCode != 1 {
		t.Errorf("summary counts %+v", s)
	}
	if !s.Sandbox || len(s.Runs) != 2 || s.Runs[0].RunID != "r-first" || s.Runs[0].File != files[0] || s.Runs[0].Operator != "alice" || *s.Runs[0].ExitCode != code {
		t.Errorf("runs %+v, want both runs of the sidecar, the first first", s.Runs)
	}
	if !s.FirstStarted.Equal(time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("first_started %s, want the campaign's first run", s.FirstStarted)
	}
	if s.FirstSettled.Format(revoke.SettledLayout) != at(1, 0) || s.LastSettled.Format(revoke.SettledLayout) != at(4, 2) {
		t.Errorf("settled span %s – %s", s.FirstSettled, s.LastSettled)
	}
	for _, key := range []string{`"coverage"`, `"missing"`, `"unrevoked_rows"`, `"attention_rows"`, `"files"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("summary has no %s:\n%s", key, b)
		}
	}
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	res := &Result{minutes: map[int64]int64{}}
	base := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC).Unix() / 60
	res.minutes[base] = 3
	res.minutes[base+2] = 5
	res.timeline()
	if res.BucketWidth != time.Minute || len(res.Timeline) != 3 || res.Timeline[1].Count != 0 || res.Timeline[2].Count != 5 {
		t.Errorf("per-minute timeline %v width %s", res.Timeline, res.BucketWidth)
	}
	// A campaign resumed the next day: wider bars, none lost.
	res.minutes[base+24*60] = 7
	res.timeline()
	var total int64
	for _, b := range res.Timeline {
		total += b.Count
	}
	if res.BucketWidth <= time.Minute || len(res.Timeline) > maxBars || total != 15 {
		t.Errorf("day-long timeline: %d bars of %s, %d revocations; want ≤ %d wider bars holding 15", len(res.Timeline), res.BucketWidth, total, maxBars)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := covering(t, dir)
	qs, err := ParseQueries(strings.NewReader("tok-foxtrot\r\n\n  tok-bravo  \nvicky\nsecond line,key1\nnobody,key1\ntok-unknown\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 6 {
		t.Fatalf("%d queries, want 6", len(qs))
	}
	found, err := Lookup(files, qs)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	missing, err := WriteLookup(&out, qs, found)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if missing != 4 { // "vicky" and "second line,key1" are two queries: neither is the user
		t.Errorf("%d queries without an outcome, want 4:\n%s", missing, text)
	}
	fox := input.Fingerprint("tok-foxtrot")
	wantLines := []string{
		"# query\tfile\tline,kind,target,consumer_key,status",
		fox + "\t" + files[2] + "\t10,token," + fox + ",,failed,503,1,concur: 503: down,,0," + at(3, 1) + ",run0",
		fox + "\t" + files[2] + "\t10,token," + fox + ",,revoked,200,1,,,0," + at(4, 2) + ",run0",
		input.Fingerprint("tok-bravo") + "\t" + files[1] + "\t3,token,",
		"nobody,key1\tno outcome",
		input.Fingerprint("tok-unknown") + "\tno outcome",
	}
	for _, w := range wantLines {
		if !strings.Contains(text, w) {
			t.Errorf("lookup output lacks %q:\n%s", w, text)
		}
	}
	for _, secret := range []string{"tok-foxtrot", "tok-bravo", "tok-unknown"} {
		if strings.Contains(text, secret+"\t") || strings.Contains(text, "\t"+secret) {
			t.Errorf("lookup printed the token %q:\n%s", secret, text)
		}
	}
	if _, err := ParseQueries(strings.NewReader("bob,\n")); err == nil {
		t.Error("a user without a consumer key was accepted")
	}
}

// TestReportFanOut: a user row fanned out over applications (--consumer-key)
// has one outcome per (line, consumer key); across shards, in one file or
// unsorted, each pair is a row of its own, not a conflict, and the same pair
// in two files still is one.
func TestReportFanOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeOutcomes(t, filepath.Join(dir, "o-0.csv"),
		usr(2, "bo", "ck-a", revoke.Revoked, at(1, 0)), usr(2, "bo", "ck-c", revoke.Revoked, at(1, 1)), usr(3, "al", "ck-b", revoke.Revoked, at(1, 2)))
	b := writeOutcomes(t, filepath.Join(dir, "o-1.jsonl"),
		usr(3, "al", "ck-a", revoke.NotFound, at(1, 3)), usr(2, "bo", "ck-b", revoke.Revoked, at(1, 4)), usr(3, "al", "ck-c", revoke.Revoked, at(1, 5)))
	res, err := Report(Options{Files: []string{a, b}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 6 || res.ByStatus[revoke.Revoked] != 5 || res.ByStatus[revoke.NotFound] != 1 || res.Coverage.Conflicts.Count != 0 || res.ExitCode != ExitOK {
		t.Errorf("rows %d, %v, conflicts %d, exit %d; want 6 pairs, 5 revoked, 1 not_found, none, 0", res.Rows, res.ByStatus, res.Coverage.Conflicts.Count, res.ExitCode)
	}
	c := writeOutcomes(t, filepath.Join(dir, "o-2.csv"), usr(3, "al", "ck-b", revoke.Failed, at(2, 0)))
	res, err = Report(Options{Files: []string{a, b, c}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 6 || res.Coverage.Conflicts.Count != 1 {
		t.Errorf("rows %d, conflicts %d: the same pair in two files is one row and a conflict", res.Rows, res.Coverage.Conflicts.Count)
	}
}
