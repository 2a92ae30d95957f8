package input

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir holds the awkward input files shared with end-to-end tests.
const corpusDir = "../../testdata/input"

// corpus is what each file in corpusDir must read as: its rows, or the
// error Open refuses it with.
var corpus = map[string]struct {
	rows    []want
	refused string
}{
	"bom_crlf.csv": {rows: []want{{2, tok, true, ""}, {3, usr, true, ""}, {5, tok, true, ""}}},
	"blank_lines.csv": {rows: []want{
		// Line 8 is spaces only: an empty row, no row at all.
		{4, tok, true, ""}, {7, usr, true, ""}, {9, tok, true, ""},
	}},
	"quoted_multiline.csv": {rows: []want{
		{2, tok, true, ""}, {3, usr, true, ""}, {6, tok, true, ""}, {7, usr, true, ""},
		{8, tok, false, reasonTokenBadBytes}, {10, tok, true, ""},
	}},
	"too_many_fields.csv": {rows: []want{
		{2, tok, true, ""}, {3, tok, false, "record has 4 fields"}, {4, usr, false, "record has 5 fields"},
		{5, usr, false, reasonUserNoKey}, {6, tok, true, ""},
	}},
	"control_bytes.csv": {rows: []want{
		{2, tok, true, ""}, {3, tok, false, reasonTokenBadBytes}, {4, usr, false, "user contains a control character"},
		{5, usr, false, "user is not valid UTF-8"}, {6, usr, false, "consumerKey contains a control character"},
		{7, tok, true, ""}, {8, tok, false, reasonTokenBadBytes}, {9, usr, true, ""},
	}},
	"no_header.csv":                   {refused: "is the header line missing?"},
	"header_only.csv":                 {},
	"empty.csv":                       {},
	"bare_quote.csv":                  {rows: []want{{2, tok, true, ""}, {3, none, false, `bare "`}, {4, none, false, `extraneous or missing "`}, {5, tok, true, ""}}},
	"unclosed_quote.csv":              {rows: []want{{2, tok, true, ""}, {3, none, false, "unclosed quote opened on line 3"}, {4, tok, true, ""}, {5, tok, true, ""}}},
	"duplicate_columns.csv":           {refused: "both give token"},
	"missing_consumer_key_column.csv": {refused: "a user column but no consumerKey column"},
	"aliases.csv": {rows: []want{
		{2, tok, true, ""}, {3, usr, true, ""}, {4, none, false, reasonBothKinds},
		{5, none, false, reasonNoTarget}, {6, usr, false, reasonKeyNoUser},
	}},
	"mixed.csv": {rows: []want{
		{2, tok, true, ""}, {3, usr, true, ""}, {4, tok, true, ""}, {5, usr, true, ""}, {6, tok, true, ""}, {7, usr, true, ""},
	}},
	"mixed.jsonl": {rows: []want{{1, tok, true, ""}, {2, usr, true, ""}, {3, tok, true, ""}, {4, usr, true, ""}, {5, tok, true, ""}}},
	"broken.jsonl": {rows: []want{
		{1, tok, true, ""},
		{2, none, false, "not valid JSON"},
		{3, none, false, "got array"},
		{4, none, false, "field token: expected a string, got number"},
		{5, none, false, "got string"},
		{6, usr, false, "field consumerKey: expected a string, got boolean"},
		{7, tok, false, "given more than once"},
		{8, none, false, "not valid JSON"},
		{9, usr, true, ""},
		{10, none, false, reasonBothKinds},
		{11, none, false, reasonNoTarget},
		{12, usr, false, reasonUserNoKey},
		{13, none, false, "got null"},
		{14, tok, true, ""},
	}},
	"blank_lines_crlf.jsonl": {rows: []want{{1, tok, true, ""}, {4, usr, true, ""}, {6, tok, true, ""}}},
	"array.jsonl":            {refused: "not JSON Lines"},
	"empty.jsonl":            {},
	"control_bytes.jsonl": {rows: []want{
		{1, usr, false, "user contains a control character"},
		{2, none, false, "not valid UTF-8"},
		{3, tok, false, reasonTokenBadBytes},
		{4, none, false, "not valid JSON"},
		{5, usr, true, ""},
	}},
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.csv", "*.jsonl"} {
		m, err := filepath.Glob(filepath.Join(corpusDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no input files in %s", corpusDir)
	}
	return files
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	files := corpusFiles(t)
	listed := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		listed[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exp, ok := corpus[name]
			if !ok {
				t.Fatalf("%s has no expectation in the corpus table", name)
			}
			format, ok := FormatFromPath(name)
			if !ok {
				t.Fatalf("no format for %s", name)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := readAll(bytes.NewReader(data), format, MaxRecordLen)
			if exp.refused != "" {
				if err == nil || !strings.Contains(err.Error(), exp.refused) {
					t.Fatalf("got error %v, want Open to refuse with %q", err, exp.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkRows(t, rows, exp.rows)
			checkInvariants(t, rows, 1)
		})
	}
	for name := range corpus {
		if !listed[name] {
			t.Errorf("%s is in the corpus table but not in %s", name, corpusDir)
		}
	}
}

// TestCountMatchesNext checks that Count and Next agree on every file, and
// that neither depends on how reads are split.
func TestCountMatchesNext(t *testing.T) {
	t.Parallel()
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			format, _ := FormatFromPath(path)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkStable(t, data, format, MaxRecordLen)
			// A small bound exercises the cut-and-resume paths on real files.
			checkStable(t, data, format, 32)
		})
	}
}

// TestCountOnFile checks Count through an *os.File, the way the CLI calls it.
func TestCountOnFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		want int64
	}{
		{"mixed.csv", 6},
		{"quoted_multiline.csv", 6},
		{"broken.jsonl", 14},
		{"header_only.csv", 0},
		{"empty.jsonl", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join(corpusDir, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			format, _ := FormatFromPath(tt.name)
			n, err := Count(f, format)
			if err != nil || n != tt.want {
				t.Errorf("Count = %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}
