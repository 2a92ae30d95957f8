package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// fileState is what a refused write must leave as it was.
type fileState struct {
	content []byte
	mode    os.FileMode
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{b, fi.Mode()}
}

// TestOutputsNeverThroughALink: every way this package writes a file
// refuses a symbolic link (to a file, dangling) and a FIFO, leaving the
// link's target as it was.
func TestOutputsNeverThroughALink(t *testing.T) {
	t.Parallel()
	writers := map[string]func(path string) error{
		"Create": func(p string) error {
			w, err := Create(p, false)
			if err == nil {
				w.Close()
			}
			return err
		},
		"Create force": func(p string) error {
			w, err := Create(p, true)
			if err == nil {
				w.Close()
			}
			return err
		},
		"Append": func(p string) error {
			w, err := Append(p)
			if err == nil {
				w.Close()
			}
			return err
		},
		"WriteAtomic": func(p string) error {
			return ownfile.WriteAtomic(p, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err })
		},
		"ProbeAtomic": ownfile.ProbeAtomic,
		"Compact":     Compact,
		"Lock": func(p string) error {
			release, err := Lock(strings.TrimSuffix(p, ".lock"))
			if err == nil {
				release()
			}
			return err
		},
	}
	for name, write := range writers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target := filepath.Join(dir, "target.csv")
			writeOutcomes(t, target, outcome(2, revoke.Revoked, ""), outcome(1, revoke.Revoked, ""))
			if err := os.Chmod(target, 0o644); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, target)
			path := filepath.Join(dir, "out.csv")
			if name == "Lock" {
				path = LockPath(path)
			}

			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			if err := write(path); !errors.Is(err, ownfile.ErrNotRegular) {
				t.Errorf("through a symbolic link to a file: error %v, want ErrNotRegular", err)
			}
			if after := stateOf(t, target); !bytes.Equal(after.content, before.content) || after.mode != before.mode {
				t.Errorf("the link's target changed: mode %v -> %v, content %q -> %q", before.mode, after.mode, before.content, after.content)
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link itself was replaced: %v %v", fi, err)
			}

			os.Remove(path)
			dangling := filepath.Join(dir, "nowhere.csv")
			if err := os.Symlink(dangling, path); err != nil {
				t.Fatal(err)
			}
			if err := write(path); err == nil {
				t.Error("through a dangling link: no error")
			}
			if _, err := os.Lstat(dangling); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was created at the dangling link's target: %v", err)
			}

			os.Remove(path)
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			if err := write(path); !errors.Is(err, ownfile.ErrNotRegular) {
				t.Errorf("onto a FIFO: error %v, want ErrNotRegular", err)
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("the FIFO was replaced: %v %v", fi, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 { // target.csv and the FIFO
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("files left behind: %v", names)
			}
		})
	}
}

// TestCreateForceKeepsOtherLinks: --force gives the name a new file; a hard
// link to the old one keeps its content.
func TestCreateForceKeepsOtherLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	other := filepath.Join(dir, "precious.csv")
	if err := os.WriteFile(other, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	if err := os.Link(other, out); err != nil {
		t.Fatal(err)
	}
	w, err := Create(out, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(outcome(2, revoke.Revoked, "")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, other); string(st.content) != "precious\n" || st.mode.Perm() != 0o644 {
		t.Errorf("the other link changed: %v %q", st.mode, st.content)
	}
	if got, _ := readOutcomes(t, out); len(got) != 1 {
		t.Errorf("outcome file holds %v", got)
	}
	if st := stateOf(t, out); st.mode.Perm() != 0o600 {
		t.Errorf("outcome file mode %v, want 0600", st.mode)
	}
}

// TestCreateLeavesNoTemporaryFile: the temporary file lives in the target's
// directory and is gone once the outcome file has its name.
func TestCreateLeavesNoTemporaryFile(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		dir := t.TempDir()
		w, err := Create(filepath.Join(dir, "out.csv"), force)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "out.csv" {
			t.Errorf("force=%v: directory holds %v", force, entries)
		}
	}
}

func TestLockIsExclusive(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.csv")
	release, err := Lock(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(out); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	release()
	again, err := Lock(out)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
	if fi, err := os.Stat(LockPath(out)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v, want mode 0600", fi, err)
	}
}

// TestCellEncoding: the cells a spreadsheet would run or a terminal would
// act on are written neutralised and escaped, everything else as it is.
func TestCellEncoding(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"plain":                          "plain",
		"":                               "",
		"=HYPERLINK(\"http://x\",\"y\")": "'=HYPERLINK(\"http://x\",\"y\")",
		"+SUM(A1)":                       "'+SUM(A1)",
		"-bob":                           "'-bob",
		"@cmd":                           "'@cmd",
		"\tx":                            `'\x09x`,
		"\rx":                            `'\x0dx`,
		"'quoted":                        "''quoted",
		"a\x1b[31mred":                   `'a\x1b[31mred`,
		"bell\x07nul\x00":                `'bell\x07nul\x00`,
		"del\x7f":                        `'del\x7f`,
		"c1\u009b2J":                     `'c1\u009b2J`,
		"bidi\u202egpj.exe":              `'bidi\u202egpj.exe`,
		`back\slash`:                     `back\slash`,
		"=back\\slash":                   `'=back\\slash`,
		`-\x41`:                          `'-\\x41`,
		"mid=dle-@":                      "mid=dle-@",
		"ünïcödé":                        "ünïcödé",
	}
	for in, want := range cases {
		got := encodeCell(in)
		if got != want {
			t.Errorf("encodeCell(%q) = %q, want %q", in, got, want)
		}
		if back := decodeCell(got); back != in {
			t.Errorf("decodeCell(%q) = %q, want %q", got, back, in)
		}
		for _, c := range []byte(got) {
			if c < 0x20 || c == 0x7f {
				t.Errorf("encodeCell(%q) = %q holds a raw control byte", in, got)
			}
		}
	}
}

// TestCellRoundTrip: any valid text survives encodeCell and decodeCell.
func TestCellRoundTrip(t *testing.T) {
	t.Parallel()
	alphabet := []rune{'=', '+', '-', '@', '\t', '\r', '\'', '\\', 'x', 'u', '0', '7', 'f', 'a', '\x00', '\x1b', '\x7f', '\u0085', '\u009f', '\u202a', '\u2069', 'é', ' ', ','}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		enc := encodeCell(s)
		if dec := decodeCell(enc); dec != s {
			t.Fatalf("%q -> %q -> %q", s, enc, dec)
		}
		if len(enc) > 0 && strings.ContainsRune("=+-@\t\r", rune(enc[0])) {
			t.Fatalf("%q encodes to %q, which starts with a formula character", s, enc)
		}
	}
}

// TestOutcomeFilesAreTerminalSafe: nothing a terminal acts on reaches either
// format raw, and reading back gives the value written (up to normalise).
func TestOutcomeFilesAreTerminalSafe(t *testing.T) {
	t.Parallel()
	o := revoke.Outcome{
		Line: 2, Kind: "user", Target: "=cmd|' /C calc'!A0", ConsumerKey: "-ck\x1b]0;pwned\x07",
		Status: revoke.Invalid, Error: "user ID contains \x00\x1b[2J\u009b\u202e\x7f here",
		CorrelationID: "@corr\t", DurationMS: 1,
	}
	for _, ext := range []string{".csv", ".jsonl"} {
		path := filepath.Join(t.TempDir(), "out"+ext)
		writeOutcomes(t, path, o)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range string(b) {
			if r != '\n' && escaped(r) {
				t.Errorf("%s holds a raw %U:\n%q", ext, r, b)
			}
		}
		if ext == ".jsonl" {
			var plain map[string]any
			if err := json.Unmarshal(bytes.TrimSpace(b), &plain); err != nil {
				t.Errorf("JSONL record is not plain JSON: %v", err)
			}
			if !utf8.Valid(b) {
				t.Error("JSONL record is not UTF-8")
			}
		} else {
			for _, cell := range []string{"'=cmd", "'-ck", "'@corr"} {
				if !bytes.Contains(b, []byte(cell)) {
					t.Errorf("CSV does not neutralise %q:\n%s", cell, b)
				}
			}
		}
		got, _ := readOutcomes(t, path)
		if len(got) != 1 || got[0] != normalise(o) {
			t.Errorf("%s read back:\n got %#v\nwant %#v", ext, got, normalise(o))
		}
	}
}

// TestJSONLEscapesEachAlone: each character encoding/json leaves raw is
// escaped even when it is the only one in the record.
func TestJSONLEscapesEachAlone(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"\x7f", "\u0085", "\u009b", "\u202e", "\u2066"} {
		o := outcome(2, revoke.Failed, "x"+c+"y")
		path := filepath.Join(t.TempDir(), "out.jsonl")
		writeOutcomes(t, path, o)
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(c)) {
			t.Errorf("%+q written raw: %s", c, b)
		}
		if got, _ := readOutcomes(t, path); len(got) != 1 || got[0].Error != o.Error {
			t.Errorf("%+q read back as %v", c, got)
		}
	}
}

// TestCompactKeepsEncodedCells: the end-of-run rewrite moves records byte
// for byte, so encoded cells read back as the values written.
func TestCompactKeepsEncodedCells(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.csv")
	a := revoke.Outcome{Line: 3, Kind: "user", Target: "=cmd", ConsumerKey: "-k", Status: revoke.Invalid, Error: "bad \x1b[2J"}
	b := revoke.Outcome{Line: 2, Kind: "user", Target: "'q", ConsumerKey: `\x41`, Status: revoke.Revoked, HTTPStatus: 200, Attempts: 1}
	writeOutcomes(t, path, a, b, a)
	if err := Compact(path); err != nil {
		t.Fatal(err)
	}
	got, _ := readOutcomes(t, path)
	if len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("after Compact: %#v", got)
	}
}
