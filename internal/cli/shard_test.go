package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// shardedInput is a CSV input of rows data rows (lines 2 to rows+1) with
// token and user rows, duplicates of both far from their originals, and
// invalid rows. want maps each line to the status a dry run gives it, and
// original maps each duplicate's line to its original's.
func shardedInput(rows int) (csv string, want map[int64]revoke.Status, original map[int64]int64) {
	var b strings.Builder
	b.WriteString("token,user,consumerKey\n")
	want = map[int64]revoke.Status{}
	original = map[int64]int64{}
	first := map[string]int64{}
	for i := range rows {
		line := int64(i + 2)
		var target string
		switch {
		case i%11 == 10:
			fmt.Fprintf(&b, ",broken%d@example.com,\n", i) // no consumerKey
			want[line] = revoke.Invalid
			continue
		case i%6 == 5:
			target = fmt.Sprintf(",user%d@example.com,app-%d", i%17, i%2) // repeats
		case i%4 == 3 && i > 50:
			target = fmt.Sprintf("0_tok%04d,,", i-50) // a duplicate when that row was a token
		default:
			target = fmt.Sprintf("0_tok%04d,,", i)
		}
		b.WriteString(target + "\n")
		if orig, dup := first[target]; dup {
			want[line] = revoke.Duplicate
			original[line] = orig
		} else {
			first[target] = line
			want[line] = revoke.DryRun
		}
	}
	return b.String(), want, original
}

// startingRows returns the "input_rows" field of the JSON "starting" log line.
func startingRows(t *testing.T, stderr string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var l struct {
			Message string `json:"message"`
			Rows    int64  `json:"input_rows"`
			Shard   string `json:"shard"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "starting" {
			return l.Rows
		}
	}
	t.Fatalf("no starting line in:\n%s", stderr)
	return 0
}

func TestShardsCoverEveryRowOnce(t *testing.T) {
	t.Parallel()
	data, want, original := shardedInput(600)
	var dups, invalid int
	for _, s := range want {
		dups += btoi(s == revoke.Duplicate)
		invalid += btoi(s == revoke.Invalid)
	}
	if dups < 50 || invalid < 40 {
		t.Fatalf("the input should hold many duplicates and invalid rows, has %d and %d", dups, invalid)
	}

	for _, n := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", data)
			shardOf := map[int64]int{}
			for i := range n {
				out := filepath.Join(dir, fmt.Sprintf("out-%d.csv", i))
				res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--log-format", "json",
					"--shard", fmt.Sprintf("%d/%d", i, n), "--out", out, in)
				got := readOutcomes(t, out)
				wantCode := ExitOK
				for line, o := range got {
					if prev, dup := shardOf[line]; dup {
						t.Errorf("line %d in shard %d and in shard %d", line, prev, i)
					}
					shardOf[line] = i
					if o.Status != want[line] {
						t.Errorf("shard %d, line %d: %q, want %q", i, line, o.Status, want[line])
					}
					if o.Status == revoke.Invalid {
						wantCode = ExitInvalid
					}
				}
				if res.code != wantCode {
					t.Errorf("shard %d: exit %d, want %d:\n%s", i, res.code, wantCode, res.stderr)
				}
				// Progress counts the shard's rows, not the file's.
				if rows := startingRows(t, res.stderr); rows != int64(len(got)) {
					t.Errorf("shard %d: starting says %d rows, the shard has %d", i, rows, len(got))
				}
			}
			for line := range want {
				if _, ok := shardOf[line]; !ok {
					t.Errorf("line %d is in no shard", line)
				}
			}
			if len(shardOf) != len(want) {
				t.Errorf("shards hold %d rows, the input %d", len(shardOf), len(want))
			}
			for line, orig := range original {
				if shardOf[line] != shardOf[orig] {
					t.Errorf("duplicate on line %d is in shard %d, its original on line %d in shard %d", line, shardOf[line], orig, shardOf[orig])
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestShardsSendEachTargetOnce runs three shards for real against one
// server: together they revoke every target, and no target is sent twice.
func TestShardsSendEachTargetOnce(t *testing.T) {
	t.Parallel()
	data, want, _ := shardedInput(200)
	var distinct int64
	for _, s := range want {
		if s == revoke.DryRun {
			distinct++
		}
	}
	srv := newServer(t, sim.Config{Live: true}, nil)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", data)
	env := map[string]string{EnvAdminToken: testAdminToken}
	var revoked int64
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("out-%d.csv", i))
		res := runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--rate", "0",
			"--shard", fmt.Sprintf("%d/3", i), "--out", out, in)
		if res.code != ExitOK && res.code != ExitInvalid {
			t.Fatalf("shard %d: exit %d:\n%s", i, res.code, res.stderr)
		}
		for line, o := range readOutcomes(t, out) {
			if want[line] == revoke.DryRun {
				if o.Status != revoke.Revoked {
					t.Errorf("line %d: %q, want revoked", line, o.Status)
				}
				revoked++
			}
		}
	}
	if revoked != distinct {
		t.Errorf("%d targets revoked, the input has %d", revoked, distinct)
	}
	if n := srv.hits.Load(); n != distinct {
		t.Errorf("the server got %d requests for %d distinct targets", n, distinct)
	}
}

func TestImpossibleShardRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"index equals count", []string{"--shard", "4/4"}, nil},
		{"zero shards", []string{"--shard", "0/0"}, nil},
		{"negative", []string{"--shard=-1/4"}, nil},
		{"garbage", []string{"--shard", "first"}, nil},
		{"unexpanded kubernetes variable", []string{"--shard", "$(JOB_COMPLETION_INDEX)/4"}, nil},
		{"from the environment", nil, map[string]string{"BULKREVOKE_SHARD": "2/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, sim.Config{Live: true}, nil)
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", "token\n0_abc\n0_def\n")
			env := map[string]string{EnvAdminToken: testAdminToken}
			for k, v := range tc.env {
				env[k] = v
			}
			args := append([]string{"run", "--base-url", srv.url, "--out", filepath.Join(dir, "out.csv")}, tc.args...)
			res := runMain(t, context.Background(), env, "", append(args, in)...)
			if res.code != ExitUsage {
				t.Errorf("exit %d, want %d:\n%s", res.code, ExitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, "shard") {
				t.Errorf("the error does not name the shard:\n%s", res.stderr)
			}
			if n := srv.hits.Load(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestResumeRefusesAnotherShard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\n0_abc\n0_def\n0_ghi\n")
	out := filepath.Join(dir, "out.csv")
	if res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--shard", "0/2", "--out", out, in); res.code != ExitOK {
		t.Fatalf("shard 0/2: exit %d:\n%s", res.code, res.stderr)
	}
	for _, tc := range []struct {
		name  string
		shard []string
		code  int
	}{
		{"another shard", []string{"--shard", "1/2"}, ExitUsage},
		{"the whole input", nil, ExitUsage},
		{"the same shard", []string{"--shard", "0/2"}, ExitOK},
	} {
		// In order, not in parallel: they share the outcome file.
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--dry-run", "--resume", "--out", out}, tc.shard...)
			res := runMain(t, context.Background(), nil, "", append(args, in)...)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", res.code, tc.code, res.stderr)
			}
			if tc.code == ExitUsage && !strings.Contains(res.stderr, "shard 0/2") {
				t.Errorf("the error does not say which shard the file belongs to:\n%s", res.stderr)
			}
		})
	}
}
