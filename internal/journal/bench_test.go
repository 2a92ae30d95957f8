package journal

import (
	"path/filepath"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// benchOutcome is a typical failed row: a quoted server message and
// six-digit line numbers, as in a 200k-row run.
var benchOutcome = revoke.Outcome{
	Line: 100_000, Kind: input.KindToken, Target: input.Fingerprint("fdjhk2382kwkajsklwe8i3932kslswl"),
	Status: revoke.Failed, HTTPStatus: 403, Attempts: 1,
	Error:         `concur: 403: <Error><Message>The OAuth token has expired, or been "revoked"</Message></Error>`,
	CorrelationID: "7f3c2a9e-1b4d-4c8e-9a0f-2d5e6b7c8a91", DurationMS: 187,
}

func benchmarkWriter(b *testing.B, ext string, syncEveryRow bool) {
	path := filepath.Join(b.TempDir(), "outcomes"+ext)
	w, err := Create(path, false)
	if err != nil {
		b.Fatal(err)
	}
	o := benchOutcome
	b.ReportAllocs()
	for b.Loop() {
		o.Line++
		if err := w.Write(o); err != nil {
			b.Fatal(err)
		}
		if syncEveryRow {
			if err := w.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkWriterCSV(b *testing.B)   { benchmarkWriter(b, ".csv", false) }
func BenchmarkWriterJSONL(b *testing.B) { benchmarkWriter(b, ".jsonl", false) }

// BenchmarkWriterSyncEveryRow quotes the price of full durability per row
// against the default (each row reaches the OS, which survives kill -9 but
// not a machine crash).
func BenchmarkWriterSyncEveryRow(b *testing.B) {
	b.Run("csv/no_sync", func(b *testing.B) { benchmarkWriter(b, ".csv", false) })
	b.Run("csv/fsync", func(b *testing.B) { benchmarkWriter(b, ".csv", true) })
}
