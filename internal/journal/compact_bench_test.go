package journal

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// BenchmarkCompact measures the end-of-run compaction of a 200k-row
// journal: already sorted (a dry run, one worker) and as 64 workers leave
// it (each row a few places from its line). B/op is what a run's peak
// memory pays for at the end:
//
//	go test -run '^$' -bench Compact -benchmem ./internal/journal
func BenchmarkCompact(b *testing.B) {
	const rows, workers = 200_000, 64
	for _, tc := range []struct {
		name     string
		shuffled bool
	}{{"sorted", false}, {"64 workers", true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			orig := filepath.Join(dir, "orig.csv")
			lines := make([]int64, rows)
			for i := range lines {
				lines[i] = int64(i + 2)
			}
			if tc.shuffled {
				r := rand.New(rand.NewPCG(1, 2))
				for i := 0; i < rows; i += workers {
					n := min(workers, rows-i)
					r.Shuffle(n, func(a, c int) { lines[i+a], lines[i+c] = lines[i+c], lines[i+a] })
				}
			}
			w, err := Create(orig, false)
			if err != nil {
				b.Fatal(err)
			}
			for _, line := range lines {
				o := revoke.Outcome{Line: line, Kind: input.KindToken, Target: input.Fingerprint("tok-bench"),
					Status: revoke.Revoked, HTTPStatus: 200, Attempts: 1, CorrelationID: "3f2a9c1e-55d2-4b7a-9e0f-2d5e6b7c8a91", DurationMS: 3}
				if err := w.Write(o); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, "outcomes.csv")
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				copyFile(b, orig, path)
				b.StartTimer()
				if err := Compact(path); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}
