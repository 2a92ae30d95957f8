package journal

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// FuzzReadJournal feeds arbitrary bytes to the reader as a CSV or JSONL
// journal. It must never panic; torn must follow the trailing-newline rule;
// whatever it accepts must survive a rewrite unchanged (up to the documented
// normalisation) and compact to the last outcome per line, sorted.
// Seeds live in testdata/fuzz/FuzzReadJournal.
func FuzzReadJournal(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		ext := ".csv"
		if jsonl {
			ext = ".jsonl"
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "journal"+ext)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var got []revoke.Outcome
		torn, err := Read(path, func(o revoke.Outcome) error {
			got = append(got, o)
			return nil
		})
		if wantTorn := len(data) > 0 && data[len(data)-1] != '\n'; torn != wantTorn {
			t.Fatalf("torn = %v, want %v", torn, wantTorn)
		}
		if err != nil {
			return
		}

		again := filepath.Join(dir, "again"+ext)
		writeOutcomes(t, again, got...)
		reread, torn := readOutcomes(t, again)
		if torn {
			t.Fatal("rewritten journal is torn")
		}
		if len(reread) != len(got) {
			t.Fatalf("rewrite gave %d outcomes, want %d", len(reread), len(got))
		}
		for i := range got {
			if want := normalise(got[i]); reread[i] != want {
				t.Fatalf("outcome %d after rewrite:\n got %#v\nwant %#v", i, reread[i], want)
			}
		}

		if err := Compact(path); err != nil {
			t.Fatalf("Compact of a readable journal: %v", err)
		}
		compacted, torn := readOutcomes(t, path)
		if torn {
			t.Fatal("compacted journal is torn")
		}
		if want := lastPerLine(got); !slices.Equal(compacted, want) {
			t.Fatalf("compacted = %#v\nwant %#v", compacted, want)
		}
	})
}

// lastPerLine is Compact's contract computed the simple way.
func lastPerLine(outs []revoke.Outcome) []revoke.Outcome {
	last := make(map[int64]revoke.Outcome)
	for _, o := range outs {
		last[o.Line] = o
	}
	var want []revoke.Outcome
	for _, o := range last {
		want = append(want, o)
	}
	slices.SortFunc(want, func(a, b revoke.Outcome) int { return cmp.Compare(a.Line, b.Line) })
	return want
}
