package input

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec string
		want       Shard
		wantErr    string
	}{
		{name: "empty is the whole input", spec: "", want: Shard{}},
		{name: "first of four", spec: "0/4", want: Shard{0, 4}},
		{name: "last of four", spec: "3/4", want: Shard{3, 4}},
		{name: "one shard", spec: "0/1", want: Shard{0, 1}},
		{name: "index equals count", spec: "4/4", wantErr: "count from 0"},
		{name: "index beyond count", spec: "7/4", wantErr: "count from 0"},
		{name: "no shards", spec: "0/0", wantErr: "at least 1"},
		{name: "negative index", spec: "-1/4", wantErr: "want I/N"},
		{name: "plus sign", spec: "+1/4", wantErr: "want I/N"},
		{name: "no slash", spec: "1", wantErr: "want I/N"},
		{name: "two slashes", spec: "1/2/3", wantErr: "want I/N"},
		{name: "spaces", spec: "1 / 4", wantErr: "want I/N"},
		{name: "missing count", spec: "1/", wantErr: "want I/N"},
		{name: "missing index", spec: "/4", wantErr: "want I/N"},
		{name: "unexpanded kubernetes variable", spec: "$(JOB_COMPLETION_INDEX)/4", wantErr: "want I/N"},
		{name: "overflow", spec: "1/99999999999999999999999", wantErr: "want I/N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseShard(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseShard(%q) = %v, %v; want error containing %q", tc.spec, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseShard(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
			}
			if tc.spec != "" && got.String() != tc.spec {
				t.Errorf("String() = %q, want %q", got.String(), tc.spec)
			}
		})
	}
}

// shardInput is a CSV input with token rows, user rows, duplicates of both
// far from their originals, and invalid rows.
func shardInput(rows int) string {
	var b strings.Builder
	b.WriteString("token,user,consumerKey\n")
	for i := range rows {
		switch {
		case i%10 == 9:
			fmt.Fprintf(&b, ",user%d@example.com,\n", i) // invalid: no consumer key
		case i%7 == 6 && i > 20:
			fmt.Fprintf(&b, "tok-%d,,\n", i-20) // duplicate of an earlier token row (or a new one)
		case i%5 == 0:
			fmt.Fprintf(&b, ",user%d@example.com,app%d\n", i%40, i%3) // users repeat every 120 rows
		default:
			fmt.Fprintf(&b, "tok-%d,,\n", i)
		}
	}
	return b.String()
}

func TestShardsPartitionTheInput(t *testing.T) {
	t.Parallel()
	data := shardInput(1200)
	all, err := readAll(strings.NewReader(data), CSV, MaxRecordLen)
	if err != nil {
		t.Fatal(err)
	}
	var invalid, dups int
	seen := NewSeen()
	for _, r := range all {
		if r.Invalid != "" {
			invalid++
		} else if _, dup := seen.Add(r.Key(), r.Line); dup {
			dups++
		}
	}
	if invalid < 100 || dups < 100 {
		t.Fatalf("the input should hold many invalid rows and duplicates, has %d and %d", invalid, dups)
	}

	for _, n := range []int{1, 2, 3, 8} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			t.Parallel()
			owner := map[int64]int{}       // line → shard
			keyShard := map[[16]byte]int{} // target → shard
			for i := range n {
				s := Shard{Index: i, Count: n}
				rd, err := Open(strings.NewReader(data), CSV)
				if err != nil {
					t.Fatal(err)
				}
				sr := NewShardReader(rd, s)
				var got int64
				for {
					row, err := sr.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got++
					if prev, dup := owner[row.Line]; dup {
						t.Fatalf("line %d in shard %d and in shard %d", row.Line, prev, i)
					}
					owner[row.Line] = i
					if row.Invalid != "" {
						continue
					}
					if prev, ok := keyShard[row.Key()]; ok && prev != i {
						t.Errorf("line %d: target in shard %d, its duplicate in shard %d", row.Line, i, prev)
					}
					keyShard[row.Key()] = i
				}
				count, err := CountShard(strings.NewReader(data), CSV, s)
				if err != nil || count != got {
					t.Errorf("shard %v: CountShard = %d, %v; the reader yielded %d", s, count, err, got)
				}
				// A hash that put everything in one place would still
				// partition; it would not split the work.
				if n > 1 && got < int64(len(all)/n/2) {
					t.Errorf("shard %v holds %d of %d rows: far from an even split", s, got, len(all))
				}
			}
			for _, r := range all {
				if _, ok := owner[r.Line]; !ok {
					t.Errorf("line %d in no shard", r.Line)
				}
			}
			if len(owner) != len(all) {
				t.Errorf("shards hold %d rows, input has %d", len(owner), len(all))
			}
		})
	}
}

// TestShardAssignmentIsStable pins where a few rows fall. If it fails, the
// hash changed, and a sharded run started with an older build would be
// resumed with rows in the wrong shards: do not update these numbers, put
// the old hash back. They were computed outside Go, as the first 8 bytes of
// SHA-256("t\x00"+token), ("u\x00"+user+"\x00"+consumerKey) or
// ("l\x00"+line as 8 big-endian bytes), big-endian, modulo 16.
func TestShardAssignmentIsStable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		row  Row
		want int // shard of 16
	}{
		{"token", Row{Line: 2, Kind: KindToken, Token: "0_8xzJvQm2L4TcR9pWb7NfHk3YsAe1Ud6Gq"}, 12},
		{"same token on another line", Row{Line: 900, Kind: KindToken, Token: "0_8xzJvQm2L4TcR9pWb7NfHk3YsAe1Ud6Gq"}, 12},
		{"user", Row{Line: 4, Kind: KindUser, User: "vicky.lee@example.com", ConsumerKey: "eZByXv2X41cJlC21pSVvRi"}, 11},
		{"invalid row by its line", Row{Line: 10, Kind: KindUser, User: "jane.roe@example.com", Invalid: "missing consumerKey"}, 14},
		{"invalid row on another line", Row{Line: 11, Kind: KindUser, User: "jane.roe@example.com", Invalid: "missing consumerKey"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := -1
			for i := range 16 {
				if (Shard{Index: i, Count: 16}).Owns(tc.row) {
					got = i
				}
			}
			if got != tc.want {
				t.Errorf("shard of 16 = %d, want %d", got, tc.want)
			}
		})
	}
}
