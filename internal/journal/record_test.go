package journal

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// writeOutcomes creates the outcome file at path and writes outs to it.
func writeOutcomes(t testing.TB, path string, outs ...revoke.Outcome) {
	t.Helper()
	w, err := Create(path, false)
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

// readOutcomes reads back every outcome of the journal at path.
func readOutcomes(t testing.TB, path string) (outs []revoke.Outcome, torn bool) {
	t.Helper()
	torn, err := Read(path, func(o revoke.Outcome) error {
		outs = append(outs, o)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return outs, torn
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
		SettledAt: "2026-12-01T22:30:00.123Z", RunID: "r1",
	}
}

// sample is a handful of outcomes covering every status and the awkward
// characters a server's error text can carry.
var sample = []revoke.Outcome{
	{Line: 2, Kind: input.KindToken, Target: input.Fingerprint("fdjhk2382kwkajsklwe8i3932kslswl"), Status: revoke.Revoked, HTTPStatus: 200, Attempts: 1, CorrelationID: "c0ffee-01", DurationMS: 183, SettledAt: "2026-12-01T22:30:00.123Z", RunID: "0123456789abcdef"},
	{Line: 3, Kind: input.KindUser, Target: "vicky@example.com", ConsumerKey: "eZByXv2X41cJlC21pSVvRi", Status: revoke.Failed, HTTPStatus: 503, Attempts: 5, Error: "concur: 503: <Error><Message>Service \"down\", retry later\nplease</Message></Error>", CorrelationID: "c0ffee-02", DurationMS: 61234, SettledAt: "2026-12-01T22:31:01.357Z", RunID: "0123456789abcdef"},
	{Line: 4, Kind: input.KindUser, Target: "José Müller", ConsumerKey: "k", Status: revoke.NotFound, HTTPStatus: 403, Attempts: 1, Error: "token revoked, or never existed", DurationMS: 97},
	{Line: 5, Kind: "", Status: revoke.Invalid, Error: `kind "tokn" is neither token nor user`},
	{Line: 6, Kind: input.KindToken, Target: input.Fingerprint("abc"), Status: revoke.Duplicate, Error: "same target as line 2"},
	{Line: 7, Kind: input.KindToken, Target: input.Fingerprint("def"), Status: revoke.DryRun},
}

func TestFormatOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		want    Format
		wantErr bool
	}{
		{path: "out.csv", want: CSV},
		{path: "/var/run/OUT.CSV", want: CSV},
		{path: "out.jsonl", want: JSONL},
		{path: "out.ndjson", want: JSONL},
		{path: "out.json", wantErr: true},
		{path: "out.csv.gz", wantErr: true},
		{path: "out", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, err := FormatOf(tt.path)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), ".csv, .jsonl or .ndjson") {
					t.Fatalf("FormatOf(%q) error = %v, want one naming the accepted extensions", tt.path, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FormatOf(%q) = %q, %v, want %q", tt.path, got, err, tt.want)
			}
		})
	}
}

// TestGolden locks the bytes of both formats: a change here breaks resuming
// from outcome files written by older builds.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"outcomes.csv", "outcomes.jsonl"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), name)
			writeOutcomes(t, path, sample...)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("outcome file differs from %s (run with -update if intended):\n got: %s\nwant: %s", golden, got, want)
			}
		})
	}
}

// pieces are the fragments random text is built from: CSV and JSON
// metacharacters, line breaks, multi-byte and invalid UTF-8.
var pieces = []string{
	"a", "Z", "7", " ", "\t", ",", ";", `"`, `""`, "'", "\n", "\r", "\r\n", `\`, `\.`, "{", "}", ":",
	"<Error>", "&", "é", "日本", "🙂", "\u2028", "\x00", "\xff", "\xe2\x82",
}

func randomText(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randomOutcome(r *rand.Rand) revoke.Outcome {
	kinds := []input.Kind{input.KindToken, input.KindUser, "", input.Kind(randomText(r))}
	statuses := revoke.Statuses()
	kind := kinds[r.IntN(len(kinds))]
	target := randomText(r)
	if kind == input.KindToken {
		// A token row names its token only by fingerprint.
		target = input.Fingerprint(target + "x")
	}
	return revoke.Outcome{
		Line:          1 + r.Int64N(MaxLine-1),
		Kind:          kind,
		Target:        target,
		ConsumerKey:   randomText(r),
		Status:        statuses[r.IntN(len(statuses))],
		HTTPStatus:    r.IntN(600),
		Attempts:      r.IntN(10),
		Error:         randomText(r),
		CorrelationID: randomText(r),
		DurationMS:    r.Int64N(1 << 50),
	}
}

// TestRoundTrip writes random outcomes full of separators, quotes, line
// breaks and odd UTF-8 and checks Read gives them back, line breaks
// turned into spaces and invalid UTF-8 into U+FFFD, one physical line each.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".csv", ".jsonl"} {
		for seed := range uint64(4) {
			t.Run(ext[1:]+"/seed"+string(rune('0'+seed)), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(seed, 0x5eed))
				outs := make([]revoke.Outcome, 300)
				for i := range outs {
					outs[i] = randomOutcome(r)
				}
				path := filepath.Join(t.TempDir(), "out"+ext)
				writeOutcomes(t, path, outs...)

				got, torn := readOutcomes(t, path)
				if torn {
					t.Error("torn = true for a cleanly closed file")
				}
				if len(got) != len(outs) {
					t.Fatalf("read %d outcomes, wrote %d", len(got), len(outs))
				}
				for i := range outs {
					want := normalise(outs[i])
					if got[i] != want {
						t.Fatalf("outcome %d:\n got %#v\nwant %#v\nwrote %#v", i, got[i], want, outs[i])
					}
					if strings.ContainsAny(got[i].Error+got[i].Target, "\r\n") {
						t.Fatalf("outcome %d kept a line break: %q", i, got[i].Error)
					}
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				header := 0
				if ext == ".csv" {
					header = 1
				}
				if n := bytes.Count(data, []byte("\n")); n != len(outs)+header {
					t.Errorf("file has %d lines, want %d: one physical line per outcome", n, len(outs)+header)
				}
			})
		}
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext[1:], func(t *testing.T) {
			t.Parallel()
			w, err := Create(filepath.Join(t.TempDir(), "out"+ext), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			err = w.Write(outcome(2, revoke.Revoked, ""))
			if !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Write after Close = %v, want os.ErrClosed", err)
			}
			// The failure is sticky: a later write must not glue a record
			// onto whatever the failed one left behind.
			if err2 := w.Write(outcome(3, revoke.Revoked, "")); err2 != err {
				t.Fatalf("second Write = %v, want the first error again", err2)
			}
		})
	}
}

// TestColumnsMatchJSON: the column table and revoke.Outcome's json tags name
// the same fields in the same order, so CSV and JSONL cannot drift apart.
func TestColumnsMatchJSON(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(revoke.Outcome{})
	var tags []string
	for i := range typ.NumField() {
		tags = append(tags, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	if !slices.Equal(tags, columnNames) {
		t.Fatalf("revoke.Outcome json tags %q, columns %q: they must be the same, in order", tags, columnNames)
	}
	// Every column encodes its own field: a record of distinct values comes
	// back whole through the table.
	o := revoke.Outcome{Line: 2, Kind: input.KindUser, Target: "t", ConsumerKey: "c", Status: revoke.Failed,
		HTTPStatus: 503, Attempts: 3, Error: "e", CorrelationID: "id", DurationMS: 7}
	var record [len(columns)]string
	encodeCSV(&o, &record)
	if got, err := decodeCSV(record[:]); err != nil || got != o {
		t.Fatalf("decodeCSV(encodeCSV(%+v)) = %+v, %v", o, got, err)
	}
}
