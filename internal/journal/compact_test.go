package journal

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

func TestCompact(t *testing.T) {
	t.Parallel()
	// A run that was resumed twice: lines redone, finished out of order.
	journal := []revoke.Outcome{
		outcome(5, revoke.Failed, "first try, 503"),
		outcome(2, revoke.Failed, "first try"),
		outcome(9, revoke.Revoked, ""),
		outcome(5, revoke.Failed, "second try, \"still\" 503"),
		outcome(2, revoke.Revoked, "second try"),
		outcome(1, revoke.Invalid, "no token"),
		outcome(5, revoke.Revoked, "third try"),
	}
	want := []revoke.Outcome{journal[5], journal[4], journal[6], journal[2]}

	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext[1:], func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out"+ext)
			writeOutcomes(t, path, journal...)
			appendBytes(t, path, "10,tok") // torn: must go
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}

			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			got, torn := readOutcomes(t, path)
			if torn {
				t.Error("torn = true after Compact")
			}
			if !slices.Equal(got, want) {
				t.Fatalf("compacted = %v\nwant %v", got, want)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
			}
			assertOnlyFile(t, path)

			// Nothing superseded is lost: the earlier records of redone
			// lines are in the history file, in the order written.
			history, torn := readOutcomes(t, HistoryPath(path))
			if wantHistory := []revoke.Outcome{journal[0], journal[1], journal[3]}; torn || !slices.Equal(history, wantHistory) {
				t.Errorf("history = %v (torn %v)\nwant %v", history, torn, wantHistory)
			}
			if fi, err := os.Lstat(HistoryPath(path)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("history file mode %v (%v), want 0600", fi.Mode(), err)
			}

			// Idempotent, and cheap: a compact journal is not rewritten.
			before, _ := os.ReadFile(path)
			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(path)
			fi2, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) || !os.SameFile(fi, fi2) {
				t.Error("second Compact rewrote an already compact journal")
			}
		})
	}
}

// TestCompactManyRedos uses enough records that an unstable sort would pick
// an older record of a line.
func TestCompactManyRedos(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext[1:], func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(7, 7))
			journal := make([]revoke.Outcome, 2000)
			for i := range journal {
				journal[i] = outcome(1+r.Int64N(40), revoke.Failed, "attempt "+strconv.Itoa(i))
			}
			path := filepath.Join(t.TempDir(), "out"+ext)
			writeOutcomes(t, path, journal...)
			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			got, _ := readOutcomes(t, path)
			if want := lastPerLine(journal); !slices.Equal(got, want) {
				t.Fatalf("compacted = %v\nwant %v", got, want)
			}
		})
	}
}

func TestCompactHandMadeFiles(t *testing.T) {
	t.Parallel()
	rec := func(line, status string) string {
		return line + ",user,vicky,k," + status + ",200,1,,c1,42,2026-12-01T22:30:00.123Z,r1\n"
	}
	tests := []struct {
		name    string
		file    string
		content string
		want    string
		rewrite bool
	}{
		{
			name:    "csv blank lines dropped with their record",
			file:    "o.csv",
			content: csvHeader + rec("3", "failed") + "\n\r\n" + rec("2", "revoked") + "\n" + rec("3", "revoked"),
			want:    csvHeader + rec("2", "revoked") + rec("3", "revoked"),
			rewrite: true,
		},
		{
			name:    "csv quoted header and crlf records kept byte for byte",
			file:    "o.csv",
			content: `"line","kind",target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id` + "\r\n" + strings.Replace(rec("3", "failed"), "\n", "\r\n", 1) + rec("2", "revoked"),
			want:    csvHeader + rec("2", "revoked") + strings.Replace(rec("3", "failed"), "\n", "\r\n", 1),
			rewrite: true,
		},
		{
			name:    "csv sorted unique untouched",
			file:    "o.csv",
			content: csvHeader + rec("2", "revoked") + rec("3", "failed"),
			want:    csvHeader + rec("2", "revoked") + rec("3", "failed"),
		},
		{
			name:    "csv sorted with a redone line",
			file:    "o.csv",
			content: csvHeader + rec("2", "failed") + rec("2", "revoked") + rec("3", "failed"),
			want:    csvHeader + rec("2", "revoked") + rec("3", "failed"),
			rewrite: true,
		},
		{
			name:    "csv sorted but torn",
			file:    "o.csv",
			content: csvHeader + rec("2", "revoked") + "3,us",
			want:    csvHeader + rec("2", "revoked"),
			rewrite: true,
		},
		{
			name:    "csv header only",
			file:    "o.csv",
			content: csvHeader,
			want:    csvHeader,
		},
		{
			name:    "jsonl blank lines skipped",
			file:    "o.jsonl",
			content: "\n" + strings.Replace(goodJSONL, `"line":2`, `"line":7`, 1) + "  \n" + goodJSONL,
			want:    goodJSONL + strings.Replace(goodJSONL, `"line":2`, `"line":7`, 1),
			rewrite: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("compacted:\n%q\nwant\n%q", got, tt.want)
			}
			fi2, _ := os.Stat(path)
			if rewritten := !os.SameFile(fi, fi2); rewritten != tt.rewrite {
				t.Errorf("rewritten = %v, want %v", rewritten, tt.rewrite)
			}
			assertOnlyFile(t, path)
		})
	}
}

// TestCompactLeavesOriginalOnFailure checks atomicity: a journal that cannot
// be read is neither changed nor accompanied by a leftover temporary file.
func TestCompactLeavesOriginalOnFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		content string
	}{
		{name: "csv corrupted middle line", file: "o.csv", content: csvHeader + "3" + goodCSV[1:] + "2,user\n" + goodCSV},
		{name: "csv bad header", file: "o.csv", content: "a,b,c,d,e,f,g,h,i,j\n" + "3" + goodCSV[1:] + goodCSV},
		{name: "jsonl unknown status", file: "o.jsonl", content: strings.Replace(goodJSONL, `"line":2`, `"line":3`, 1) + strings.Replace(goodJSONL, "revoked", "gone", 1)},
		{name: "wrong extension", file: "o.txt", content: goodCSV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Compact(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Compact = %v, want an error naming the file", err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.content {
				t.Errorf("original changed to %q", got)
			}
			assertOnlyFile(t, path)
		})
	}
}

func TestCompactMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.jsonl")
	if err := Compact(path); err == nil {
		t.Fatal("Compact of a missing file succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Compact created %s", path)
	}
}

// assertOnlyFile fails if the directory of path holds anything else, such
// as a temporary file left by Compact.
func assertOnlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	// The history file is the journal's own (keepHistory); nothing else
	// may be left, no temporary file above all.
	var others []os.DirEntry
	for _, e := range entries {
		if e.Name() != filepath.Base(HistoryPath(path)) {
			others = append(others, e)
		}
	}
	if len(others) != 1 || others[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only %s", names, filepath.Base(path))
	}
}

// TestCompactHistoryAppendsOnly: a later compaction adds to the history
// file and keeps what it held; a history file that is a symbolic link, or
// not an outcome file, stops the compaction with the journal untouched.
func TestCompactHistoryAppendsOnly(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext[1:], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+ext)
			writeOutcomes(t, path, outcome(3, revoke.Failed, "a"), outcome(3, revoke.Revoked, "b"))
			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			// A resume with --retry-failed appends; the next compaction
			// moves the superseded record after the first one.
			w, err := Append(path)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(outcome(2, revoke.Failed, "c"))
			w.Write(outcome(2, revoke.NotFound, "d"))
			w.Close()
			if err := Compact(path); err != nil {
				t.Fatal(err)
			}
			history, _ := readOutcomes(t, HistoryPath(path))
			if want := []revoke.Outcome{outcome(3, revoke.Failed, "a"), outcome(2, revoke.Failed, "c")}; !slices.Equal(history, want) {
				t.Errorf("history = %v, want %v", history, want)
			}
			if err := Check(HistoryPath(path)); err != nil {
				t.Errorf("history is not an outcome file: %v", err)
			}

			for name, prepare := range map[string]func(string){
				"symbolic link": func(h string) {
					os.Remove(h)
					os.Symlink(filepath.Join(dir, "elsewhere"), h)
				},
				"not an outcome file": func(h string) {
					os.Remove(h)
					os.WriteFile(h, []byte("precious notes\n"), 0o600)
				},
			} {
				os.Remove(path)
				writeOutcomes(t, path, outcome(4, revoke.Failed, "e"), outcome(4, revoke.Revoked, "f"))
				before, _ := os.ReadFile(path)
				prepare(HistoryPath(path))
				if err := Compact(path); err == nil {
					t.Errorf("%s: Compact succeeded", name)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Errorf("%s: the journal was changed", name)
				}
				if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
					t.Errorf("%s: written through the link", name)
				}
			}
		})
	}
}

// TestCompactFanOut: a user row fanned out over applications has one record
// per (line, consumer key); compaction keeps the latest of each pair, sorted
// by line, then consumer key, and never merges two applications of a line.
func TestCompactFanOut(t *testing.T) {
	t.Parallel()
	pair := func(line int64, ck string, s revoke.Status, note string) revoke.Outcome {
		o := outcome(line, s, note)
		o.Kind, o.Target, o.ConsumerKey = "user", "bo@example.com", ck
		return o
	}
	journal := []revoke.Outcome{
		pair(3, "ck-b", revoke.Revoked, ""),
		pair(2, "ck-c", revoke.Failed, "first try"),
		pair(2, "ck-a", revoke.Revoked, ""),
		pair(3, "ck-a", revoke.Revoked, ""),
		pair(2, "ck-c", revoke.Revoked, "retried"),
		pair(2, "ck-b", revoke.NotFound, ""),
	}
	want := []revoke.Outcome{journal[2], journal[5], journal[4], journal[3], journal[0]}
	for _, ext := range []string{".csv", ".jsonl"} {
		path := filepath.Join(t.TempDir(), "out"+ext)
		writeOutcomes(t, path, journal...)
		if err := Compact(path); err != nil {
			t.Fatal(err)
		}
		if got, _ := readOutcomes(t, path); !slices.Equal(got, want) {
			t.Errorf("%s: compacted = %v\nwant %v", ext, got, want)
		}
		// Sorted by (line, key) already: left as it is.
		before, _ := os.ReadFile(path)
		if err := Compact(path); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s: a compact fanned-out file was rewritten", ext)
		}
	}
}
