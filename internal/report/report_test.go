package report

import (
	"os"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// writeOutcomes creates the outcome file at path and writes outs to it.
func writeOutcomes(t testing.TB, path string, outs ...revoke.Outcome) {
	t.Helper()
	w, err := journal.Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if err := w.Write(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func outcome(line int64, status revoke.Status, errText string) revoke.Outcome {
	return revoke.Outcome{
		Line: line, Kind: input.KindUser, Target: "vicky", ConsumerKey: "eZByXv2X41cJlC21pSVvRi",
		Status: status, HTTPStatus: 200, Attempts: 1, Error: errText, DurationMS: 42,
	}
}

// sample is a handful of outcomes covering every status.
var sample = []revoke.Outcome{
	{Line: 2, Kind: input.KindToken, Target: input.Fingerprint("fdjhk2382kwkajsklwe8i3932kslswl"), Status: revoke.Revoked, HTTPStatus: 200, Attempts: 1, CorrelationID: "c0ffee-01", DurationMS: 183},
	{Line: 3, Kind: input.KindUser, Target: "vicky@example.com", ConsumerKey: "eZByXv2X41cJlC21pSVvRi", Status: revoke.Failed, HTTPStatus: 503, Attempts: 5, Error: "concur: 503", CorrelationID: "c0ffee-02", DurationMS: 61234},
	{Line: 4, Kind: input.KindUser, Target: "José Müller", ConsumerKey: "k", Status: revoke.NotFound, HTTPStatus: 403, Attempts: 1, Error: "token revoked, or never existed", DurationMS: 97},
	{Line: 5, Kind: "", Status: revoke.Invalid, Error: `kind "tokn" is neither token nor user`},
	{Line: 6, Kind: input.KindToken, Target: input.Fingerprint("abc"), Status: revoke.Duplicate, Error: "same target as line 2"},
	{Line: 7, Kind: input.KindToken, Target: input.Fingerprint("def"), Status: revoke.DryRun},
}

func TestTally(t *testing.T) {
	t.Parallel()
	var tally Tally
	for _, o := range sample {
		tally.Add(o)
	}
	tally.Add(outcome(8, revoke.Revoked, ""))
	want := map[revoke.Status]int64{
		revoke.Revoked: 2, revoke.Failed: 1, revoke.NotFound: 1,
		revoke.Invalid: 1, revoke.Duplicate: 1, revoke.DryRun: 1,
	}
	for _, s := range Statuses() {
		if tally.ByStatus[s] != want[s] {
			t.Errorf("ByStatus[%s] = %d, want %d", s, tally.ByStatus[s], want[s])
		}
	}
	if tally.Requests != 1+5+1+1 {
		t.Errorf("Requests = %d, want 8 (attempts summed)", tally.Requests)
	}
	if tally.Rows() != 7 {
		t.Errorf("Rows() = %d, want 7", tally.Rows())
	}
}

// TestStatusesAreAllKnown: every status a summary lists is one the outcome
// file's reader accepts.
func TestStatusesAreAllKnown(t *testing.T) {
	t.Parallel()
	got := Statuses()
	if len(got) != 6 {
		t.Fatalf("Statuses() = %v, want the 6 statuses", got)
	}
	path := t.TempDir() + "/out.csv"
	var outs []revoke.Outcome
	for i, s := range got {
		outs = append(outs, outcome(int64(i+2), s, ""))
	}
	writeOutcomes(t, path, outs...)
	if _, err := journal.Read(path, func(revoke.Outcome) error { return nil }); err != nil {
		t.Fatalf("Statuses() = %v: every listed status must be accepted by the reader: %v", got, err)
	}
}
