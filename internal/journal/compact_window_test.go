package journal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestCompactLargeJournals covers journals several times larger than the
// window rewrite reads at a time, in the orders a run produces: nearly
// sorted (workers finishing a little out of order), fully shuffled (every
// record needs a read of its own), and with redone lines far apart (a
// resume appending to a long journal).
func TestCompactLargeJournals(t *testing.T) {
	t.Parallel()
	const records = 2_500
	// Long error texts make each record ~2 KiB: ~5 MiB in all.
	long := strings.Repeat("concur answered 503 ", 100)
	orders := []struct {
		name  string
		lines func(r *rand.Rand) []int64
	}{
		{"nearly sorted", func(r *rand.Rand) []int64 {
			lines := make([]int64, records)
			for i := range lines {
				lines[i] = int64(i + 2)
			}
			for i := 0; i+64 < len(lines); i += 64 {
				r.Shuffle(64, func(a, b int) { lines[i+a], lines[i+b] = lines[i+b], lines[i+a] })
			}
			return lines
		}},
		{"shuffled", func(r *rand.Rand) []int64 {
			lines := make([]int64, records)
			for i := range lines {
				lines[i] = int64(i + 2)
			}
			r.Shuffle(len(lines), func(a, b int) { lines[a], lines[b] = lines[b], lines[a] })
			return lines
		}},
		{"resumed: early lines redone at the end", func(r *rand.Rand) []int64 {
			lines := make([]int64, 0, records)
			for i := range records - 200 {
				lines = append(lines, int64(i+2))
			}
			for range 200 {
				lines = append(lines, 2+r.Int64N(records-200))
			}
			return lines
		}},
	}
	// The window copies bytes whatever the format, and CSV is the cheaper
	// to write and read back under -race.
	for _, order := range orders {
		for _, ext := range []string{".csv"} {
			t.Run(order.name+"/"+ext[1:], func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(11, 13))
				lines := order.lines(r)
				journal := make([]revoke.Outcome, len(lines))
				for i, line := range lines {
					journal[i] = outcome(line, revoke.Failed, long+strings.Repeat("x", r.IntN(40)))
				}
				path := filepath.Join(t.TempDir(), "out"+ext)
				writeOutcomes(t, path, journal...)
				if fi, err := os.Stat(path); err != nil || fi.Size() < 4*compactWindow {
					t.Fatalf("journal is %v bytes (%v), want several windows", fi.Size(), err)
				}
				if err := Compact(path); err != nil {
					t.Fatal(err)
				}
				got, torn := readOutcomes(t, path)
				if torn {
					t.Error("torn = true after Compact")
				}
				if want := lastPerLine(journal); !slices.Equal(got, want) {
					t.Fatalf("compacted %d records, want %d; first differing: %v", len(got), len(want), firstDiff(got, want))
				}
			})
		}
	}
}

func firstDiff(got, want []revoke.Outcome) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("record %d is line %d, want line %d", i, got[i].Line, want[i].Line)
		}
	}
	return "one is a prefix of the other"
}
