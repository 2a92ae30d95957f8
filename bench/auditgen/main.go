// Command auditgen writes the files of the `bulkrevoke report` benchmark
// (BENCHMARKS.md, "Reports"): an input of N token rows and the outcome files
// of its S shards, as S completed `--shard I/S` runs would leave them
// (compacted: in line order), with settled_at spread over an hour, a run ID
// per shard, and one row in a thousand failed.
//
//	go run ./bench/auditgen -dir /tmp/audit -rows 900000 -shards 3
//
// With -unsorted the last shard's file is left as a stopped run leaves it:
// out of line order, which report reads in chunks.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

func main() {
	dir := flag.String("dir", "", "directory to write into (created)")
	rows := flag.Int("rows", 900000, "input rows")
	shards := flag.Int("shards", 3, "shards")
	unsorted := flag.Bool("unsorted", false, "leave the last shard's file out of line order")
	flag.Parse()
	if *dir == "" || *rows < 1 || *shards < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := generate(*dir, *rows, *shards, *unsorted); err != nil {
		fmt.Fprintln(os.Stderr, "auditgen:", err)
		os.Exit(1)
	}
}

func token(i int) string { return fmt.Sprintf("0_bench%033d", i) }

func generate(dir string, rows, shards int, unsorted bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	in, err := os.Create(filepath.Join(dir, "input.csv"))
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := in.WriteString("token,user,consumerKey\n"); err != nil {
		return err
	}
	writers := make([]*journal.Writer, shards)
	for i := range writers {
		if writers[i], err = journal.Create(filepath.Join(dir, fmt.Sprintf("out-%d.csv", i)), true); err != nil {
			return err
		}
	}
	start := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	var held []revoke.Outcome
	for i := range rows {
		tok := token(i)
		if _, err := in.WriteString(tok + ",,\n"); err != nil {
			return err
		}
		row := input.Row{Line: int64(i + 2), Kind: input.KindToken, Token: tok}
		shard := 0
		for s := range shards {
			if (input.Shard{Index: s, Count: shards}).Owns(row) {
				shard = s
			}
		}
		o := revoke.Outcome{Line: row.Line, Kind: input.KindToken, Target: row.Target(), Status: revoke.Revoked,
			HTTPStatus: 200, Attempts: 1, CorrelationID: fmt.Sprintf("c-%d", i), DurationMS: 40,
			SettledAt: revoke.SettledTime(start.Add(time.Duration(i) * time.Hour / time.Duration(rows))), RunID: fmt.Sprintf("run-of-shard-%d", shard)}
		switch {
		case i%1000 == 7:
			o.Status, o.HTTPStatus, o.Error = revoke.Failed, 503, "concur: 503: Service Unavailable"
		case i%5 == 0:
			o.Status, o.Error = revoke.NotFound, "token revoked, or never existed"
		}
		if unsorted && shard == shards-1 {
			held = append(held, o)
			continue
		}
		if err := writers[shard].Write(o); err != nil {
			return err
		}
	}
	// A stopped run's order: workers finish out of order, and a resume
	// appends what the first run left.
	slices.Reverse(held)
	for _, o := range held {
		if err := writers[shards-1].Write(o); err != nil {
			return err
		}
	}
	for _, w := range writers {
		if err := w.Close(); err != nil {
			return err
		}
	}
	return in.Close()
}
