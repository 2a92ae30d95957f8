package journal

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestReadDone: a line is done by its latest record, unless that record's
// status is sent again; with target checks, only while the line still names
// the recorded target. A torn last line is not done.
func TestReadDone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.csv")
	tok := func(line int64, secret string, s revoke.Status) revoke.Outcome {
		return revoke.Outcome{Line: line, Kind: input.KindToken, Target: input.Fingerprint(secret), Status: s}
	}
	writeOutcomes(t, path,
		tok(2, "a", revoke.Revoked),
		tok(3, "b", revoke.Failed),
		tok(4, "c", revoke.DryRun),
		tok(5, "d", revoke.Failed), tok(5, "d", revoke.NotFound), // redone: the latest counts
		tok(6, "e", revoke.Revoked), tok(6, "e", revoke.Failed), // redone and failed again
	)
	appendBytes(t, path, "7,token,sha256:0123") // torn
	row := func(line int64, secret string) input.Row {
		return input.Row{Line: line, Kind: input.KindToken, Token: secret}
	}
	retryFailed := func(s revoke.Status) bool { return s == revoke.Failed }

	for _, check := range []bool{false, true} {
		state, run := State{Meta: &Meta{InputSHA256: "same"}}, Run{InputSHA256: "same"}
		if check {
			state.Meta.InputSHA256 = "another input's"
		}
		if state.CheckTargets(run) != check {
			t.Fatalf("CheckTargets = %v, want %v", !check, check)
		}
		d, err := ReadDone(path, state, run, retryFailed)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			row  input.Row
			want bool
		}{
			{row(2, "a"), true}, {row(3, "b"), false}, {row(4, "c"), true}, {row(5, "d"), true},
			{row(6, "e"), false}, {row(7, "g"), false}, {row(8, "h"), false}, {row(1, "x"), false},
			// Another target on a recorded line: done only without checks.
			{row(2, "moved"), !check},
			{input.Row{Line: 4, Kind: input.KindUser, User: "c"}, !check},
		} {
			if got := d.Has(tc.row); got != tc.want {
				t.Errorf("checkTargets=%v: Has(line %d, %s %q) = %v, want %v", check, tc.row.Line, tc.row.Kind, tc.row.Token+tc.row.User, got, tc.want)
			}
		}
		if d.Len() != 3 {
			t.Errorf("checkTargets=%v: Len() = %d, want 3 (lines 2, 4, 5)", check, d.Len())
		}
	}
}

// TestReadDoneRecordPastInput: a record for a line on which no row of the
// input starts refuses the resume, naming the line; one the input has passes.
func TestReadDoneRecordPastInput(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.csv")
	writeOutcomes(t, path, outcome(2, revoke.Revoked, ""), outcome(9, revoke.Revoked, ""))
	never := func(revoke.Status) bool { return false }
	var lines LineSet
	for l := range int64(8) {
		lines.Add(l + 2) // rows on lines 2..9
	}
	run := Run{Out: path, Input: "in.csv", InputLines: &lines}
	if d, err := ReadDone(path, State{}, run, never); err != nil || d.Len() != 2 {
		t.Fatalf("every recorded line is the input's: %v, %v", d, err)
	}
	lines.Remove(9)
	for _, shard := range []string{"", "2/3"} {
		run.Shard = shard
		_, err := ReadDone(path, State{}, run, never)
		var refusal *Refusal
		if !errors.As(err, &refusal) || refusal.Rule != "record-past-input" {
			t.Fatalf("shard %q: ReadDone = %v, want a record-past-input refusal", shard, err)
		}
		want := "holds an outcome for line 9, and no row of in.csv starts on line 9"
		if shard != "" {
			want = "holds an outcome for line 9, and no row of in.csv (shard 2/3) starts on line 9"
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}

func TestLineSet(t *testing.T) {
	t.Parallel()
	var s LineSet
	for _, l := range []int64{1, 63, 64, 65, 1000, 64} {
		s.Add(l)
	}
	s.Add(-1)
	s.Remove(65)
	s.Remove(2) // absent
	for l, want := range map[int64]bool{1: true, 63: true, 64: true, 65: false, 1000: true, 2: false, -1: false, 1 << 40: false} {
		if s.Has(l) != want {
			t.Errorf("Has(%d) = %v, want %v", l, s.Has(l), want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len() = %d, want 4", s.Len())
	}
}

// TestReadDoneFanOut: with --consumer-key, a line is done one application
// at a time: a line half done has only its recorded applications done, a
// failed application is sent again with --retry-failed, and a row naming
// its own consumer key, or a token row, is done by its line.
func TestReadDoneFanOut(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	usr := func(line int64, ck string, s revoke.Status) revoke.Outcome {
		return revoke.Outcome{Line: line, Kind: input.KindUser, Target: "bo@example.com", ConsumerKey: ck, Status: s}
	}
	writeOutcomes(t, path,
		usr(2, "ck-a", revoke.Revoked), usr(2, "ck-b", revoke.Revoked), usr(2, "ck-c", revoke.Revoked),
		usr(3, "ck-a", revoke.Revoked), usr(3, "ck-b", revoke.Failed),
		usr(4, "ck-own", revoke.Revoked),
		revoke.Outcome{Line: 5, Kind: input.KindToken, Target: input.Fingerprint("t"), Status: revoke.Revoked},
	)
	run := Run{InputSHA256: "same", ConsumerKeys: []string{"ck-a", "ck-b", "ck-c"}}
	d, err := ReadDone(path, State{Meta: &Meta{InputSHA256: "same"}}, run, func(s revoke.Status) bool { return s == revoke.Failed })
	if err != nil {
		t.Fatal(err)
	}
	u := func(line int64, ck string) input.Row {
		return input.Row{Line: line, Kind: input.KindUser, User: "bo@example.com", ConsumerKey: ck}
	}
	for _, tc := range []struct {
		row  input.Row
		want bool
	}{
		{u(2, "ck-a"), true}, {u(2, "ck-b"), true}, {u(2, "ck-c"), true},
		{u(3, "ck-a"), true}, {u(3, "ck-b"), false}, {u(3, "ck-c"), false},
		{u(4, "ck-own"), true}, {u(4, "ck-a"), false},
		{input.Row{Line: 5, Kind: input.KindToken, Token: "t"}, true},
		{u(6, "ck-a"), false},
	} {
		if got := d.Has(tc.row); got != tc.want {
			t.Errorf("line %d, %q: Has = %v, want %v", tc.row.Line, tc.row.ConsumerKey, got, tc.want)
		}
	}
	if d.Len() != 6 {
		t.Errorf("Len = %d, want 6 targets done", d.Len())
	}
}
