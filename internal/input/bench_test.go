package input

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
)

const benchRows = 10_000

// benchInput is benchRows rows, three in four of them tokens, with a note
// column the reader has to step over, as in real exports.
func benchInput(f Format) []byte {
	var b bytes.Buffer
	if f == CSV {
		b.WriteString("token,user,consumerKey,note\n")
	}
	for i := range benchRows {
		token := fmt.Sprintf("0_%032x", i*7919)
		user := fmt.Sprintf("user%05d@example.com", i)
		switch {
		case f == CSV && i%4 == 3:
			fmt.Fprintf(&b, ",%s,eZByXv2X41cJlC21pSVvRi,leaver\n", user)
		case f == CSV:
			fmt.Fprintf(&b, "%s,,,\"laptop stolen, ticket %d\"\n", token, i)
		case i%4 == 3:
			fmt.Fprintf(&b, `{"user":%q,"consumerKey":"eZByXv2X41cJlC21pSVvRi","note":"leaver"}`+"\n", user)
		default:
			fmt.Fprintf(&b, `{"token":%q,"note":"laptop stolen, ticket %d"}`+"\n", token, i)
		}
	}
	return b.Bytes()
}

func benchmarkNext(b *testing.B, f Format) {
	data := benchInput(f)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd, err := Open(bytes.NewReader(data), f)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || row.Invalid != "" {
				b.Fatalf("row %d: %+v, %v", n, row, err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}

func BenchmarkCSV(b *testing.B)   { benchmarkNext(b, CSV) }
func BenchmarkJSONL(b *testing.B) { benchmarkNext(b, JSONL) }

func BenchmarkCount(b *testing.B) {
	for _, f := range []Format{CSV, JSONL} {
		b.Run(string(f), func(b *testing.B) {
			data := benchInput(f)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				n, err := Count(bytes.NewReader(data), f)
				if err != nil || n != benchRows {
					b.Fatalf("Count = %d, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkSeen measures what de-duplication costs a row: the heap that a
// Seen of a million distinct keys holds, each with its first line.
func BenchmarkSeen(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewSeen()
		for i := range int64(n) {
			var k [16]byte
			binary.LittleEndian.PutUint64(k[:], uint64(i)*0x9E3779B97F4A7C15)
			s.Add(k, i+2)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/row")
		runtime.KeepAlive(s)
	}
}
