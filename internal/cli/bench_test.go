package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// BenchmarkRunUnpaced is the whole hot path in one process, as the binary
// runs it: reader, pool, client, outcome writer and compaction, logging at
// info, unpaced against a simulator that answers at once. Profile it with
//
//	go test -run '^$' -bench RunUnpaced -cpuprofile cpu.out ./internal/cli
//
// The simulator shares the process: focus the profile on bulkrevoke's
// packages (-focus) or subtract its frames.
func BenchmarkRunUnpaced(b *testing.B) {
	const rows = 20_000
	dir := b.TempDir()
	in := filepath.Join(dir, "tokens.csv")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("token\n")
	for i := range rows {
		fmt.Fprintf(w, "0_bench%033d\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "outcomes.csv")

	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		srv, err := sim.Start(sim.Config{AdminToken: testAdminToken, Live: true})
		if err != nil {
			b.Fatal(err)
		}
		env := map[string]string{EnvAdminToken: testAdminToken}
		args := []string{"run", "--base-url", srv.URL().String(), "--out", out, "--force",
			"--rate", "0", "--concurrency", strconv.Itoa(64), "--log-format", "json", in}
		b.StartTimer()
		code := Main(context.Background(), args, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
		b.StopTimer()
		srv.Close()
		if code != ExitOK {
			b.Fatalf("exit %d, want %d", code, ExitOK)
		}
		if st := srv.Stats(); st.Revocations != rows {
			b.Fatalf("server revoked %d tokens, want %d", st.Revocations, rows)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkOpenInput measures what openInput costs before a run, for 1M
// token rows (35 MB): from a regular file (SHA-256 pass, count pass) and
// from a pipe, which is first spooled into a private file beside the
// outcome file (copy and SHA-256 in one pass, then the count pass).
//
//	go test -run '^$' -bench OpenInput -benchtime 5x ./internal/cli
func BenchmarkOpenInput(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	in := filepath.Join(dir, "tokens.csv")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("token\n")
	for i := range rows {
		fmt.Fprintf(w, "0_bench%033d\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Input: in, InputFormat: "csv", Out: filepath.Join(dir, "outcomes.csv")}
	check := func(got *openedInput, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if got.total != rows {
			b.Fatalf("total %d, want %d", got.total, rows)
		}
		got.close()
	}
	b.Run("file", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			check(openInput(cfg, nil))
		}
	})
	b.Run("pipe", func(b *testing.B) {
		b.SetBytes(fi.Size())
		pipeCfg := cfg
		pipeCfg.Input = "-"
		for b.Loop() {
			src, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			go func() { io.Copy(pw, src); pw.Close(); src.Close() }()
			check(openInput(pipeCfg, pr))
			pr.Close()
		}
	})
}
