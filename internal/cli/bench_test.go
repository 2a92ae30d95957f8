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
