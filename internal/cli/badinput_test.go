package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// inputCorpus holds the awkward input files, shared with internal/input.
const inputCorpus = "../../testdata/input"

// rowWant is what one line of a corpus file must end as. A valid row names
// its target ("token:T" or "user:U/K"), which the test makes live on the
// simulator; an invalid one gives part of its reason.
type rowWant struct {
	status revoke.Status
	target string // revoked and duplicate rows
	reason string // invalid rows
}

func revoked(target string) rowWant { return rowWant{status: revoke.Revoked, target: target} }
func invalid(reason string) rowWant { return rowWant{status: revoke.Invalid, reason: reason} }

// corpusWants is the end-to-end expectation for every file of the corpus:
// the outcome of each line, or the refusal (exit 2, nothing sent). A file
// with neither is an empty run.
var corpusWants = map[string]struct {
	rows    map[int64]rowWant
	refused string
}{
	"bom_crlf.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-bom-0001"), 3: revoked("user:alice@example.com/ck-0001"), 5: revoked("token:tok-bom-0002"),
	}},
	"blank_lines.csv": {rows: map[int64]rowWant{
		4: revoked("token:tok-blank-0001"), 7: revoked("user:bob@example.com/ck-0002"),
		9: revoked("token:tok-blank-0002"), // line 8 is spaces only: an empty row, no outcome
	}},
	"quoted_multiline.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-quoted-0001"), 3: revoked("user:carol, the admin/ck-0003"),
		6: revoked("token:tok-quoted-0002"), 7: revoked(`user:dave"quoted"@example.com/ck-0004`),
		8: invalid("token contains a space, a control character"), 10: revoked("token:tok-quoted-0003"),
	}},
	"too_many_fields.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-fields-0001"), 3: invalid("record has 4 fields"), 4: invalid("record has 5 fields"),
		5: invalid("user given without consumerKey"), 6: revoked("token:tok-fields-0003"),
	}},
	"control_bytes.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-ctrl-0001"), 3: invalid("token contains"), 4: invalid("user contains a control character"),
		5: invalid("user is not valid UTF-8"), 6: invalid("consumerKey contains a control character"),
		7: revoked("token:tok-ctrl-0002"), 8: invalid("non-ASCII"), 9: revoked("user:judy@example.com/ck-0009"),
	}},
	"bare_quote.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-bare-0001"), 3: invalid(`bare "`), 4: invalid(`extraneous or missing "`), 5: revoked("token:tok-bare-0003"),
	}},
	"unclosed_quote.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-open-0001"), 3: invalid("unclosed quote opened on line 3"),
		4: revoked("token:tok-open-0003"), 5: revoked("token:tok-open-0004"),
	}},
	"aliases.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-alias-0001"), 3: revoked("user:liam@example.com/ck-0011"),
		4: invalid("both a token and a user"), 5: invalid("no token and no user"), 6: invalid("consumerKey given without user"),
	}},
	"mixed.csv": {rows: map[int64]rowWant{
		2: revoked("token:tok-mixed-0001"), 3: revoked("user:nina@example.com/ck-0014"), 4: revoked("token:tok-mixed-0002"),
		5: revoked("user:oscar@example.com/ck-0014"), 6: {status: revoke.Duplicate, target: "token:tok-mixed-0001"},
		7: revoked("user:nina@example.com/ck-0015"),
	}},
	"header_only.csv":                 {},
	"empty.csv":                       {},
	"no_header.csv":                   {refused: "is the header line missing?"},
	"duplicate_columns.csv":           {refused: "both give token"},
	"missing_consumer_key_column.csv": {refused: "a user column but no consumerKey column"},
	"mixed.jsonl": {rows: map[int64]rowWant{
		1: revoked("token:tok-jmixed-0001"), 2: revoked("user:pat@example.com/ck-0016"), 3: revoked("token:tok-jmixed-0002"),
		4: revoked("user:quinn@example.com/ck-0017"), 5: revoked("token:tok-jmixed-0003"),
	}},
	"broken.jsonl": {rows: map[int64]rowWant{
		1: revoked("token:tok-jbroken-0001"), 2: invalid("not valid JSON"), 3: invalid("got array"),
		4: invalid("field token: expected a string, got number"), 5: invalid("got string"),
		6: invalid("field consumerKey: expected a string, got boolean"), 7: invalid("given more than once"),
		8: invalid("not valid JSON"), 9: revoked("user:sam@example.com/ck-0018"), 10: invalid("both a token and a user"),
		11: invalid("no token and no user"), 12: invalid("user given without consumerKey"), 13: invalid("got null"),
		14: revoked("token:tok-jbroken-0008"),
	}},
	"blank_lines_crlf.jsonl": {rows: map[int64]rowWant{
		1: revoked("token:tok-jblank-0001"), 4: revoked("user:vic@example.com/ck-0019"), 6: revoked("token:tok-jblank-0002"),
	}},
	"control_bytes.jsonl": {rows: map[int64]rowWant{
		1: invalid("user contains a control character"), 2: invalid("not valid UTF-8"), 3: invalid("non-ASCII"),
		4: invalid("not valid JSON"), 5: revoked("user:yara@example.com/ck-0022"),
	}},
	"array.jsonl": {refused: "not JSON Lines"},
	"empty.jsonl": {},
}

// makeLive registers a target on the simulator, which otherwise knows none:
// a request for anything else would end not_found and fail the test.
func makeLive(s *sim.Server, target string) {
	kind, rest, _ := strings.Cut(target, ":")
	if kind == "token" {
		s.AddToken(rest)
		return
	}
	i := strings.LastIndexByte(rest, '/')
	s.AddUserTokens(rest[:i], rest[i+1:], 1)
}

// TestBadInputEndToEnd runs the job on every file of the corpus: good rows
// are revoked on their true line numbers, broken rows are invalid with a
// reason, unusable files are refused before anything is sent, and empty
// files make an empty run. JSONL inputs get a JSONL outcome file, so that
// both writers are exercised.
func TestBadInputEndToEnd(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{"*.csv", "*.jsonl"} {
		m, err := filepath.Glob(filepath.Join(inputCorpus, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := corpusWants[name]
			if !ok {
				t.Fatalf("%s has no end-to-end expectation in corpusWants", name)
			}
			runCorpusFile(t, path, want.rows, want.refused)
		})
	}
	for name := range corpusWants {
		if !seen[name] {
			t.Errorf("%s is in corpusWants but not in %s", name, inputCorpus)
		}
	}
}

// runCorpusFile runs the job on path and checks it against rows or the
// refusal; it returns the outcome file.
func runCorpusFile(t *testing.T, path string, rows map[int64]rowWant, refused string) (out string) {
	t.Helper()
	srv := newServer(t, sim.Config{}, nil)
	anyInvalid := false
	for _, w := range rows {
		if w.status == revoke.Revoked {
			makeLive(srv.Server, w.target)
		}
		anyInvalid = anyInvalid || w.status == revoke.Invalid
	}
	ext := ".csv"
	if strings.HasSuffix(path, ".jsonl") {
		ext = ".jsonl"
	}
	out = outPath(t, "out"+ext)
	res := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", "0", "--log-format", "json", "--out", out, path)

	if refused != "" {
		if res.code != ExitUsage || !strings.Contains(res.stderr, refused) {
			t.Errorf("exit %d, want %d saying %q:\n%s", res.code, ExitUsage, refused, res.stderr)
		}
		if n := srv.hits.Load(); n != 0 {
			t.Errorf("a refused file sent %d requests", n)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a refused file left an outcome file")
		}
		return out
	}
	wantCode := ExitOK
	if anyInvalid {
		wantCode = ExitInvalid // nothing else fails here
	}
	if res.code != wantCode {
		t.Fatalf("exit %d, want %d:\n%s", res.code, wantCode, res.stderr)
	}
	if len(rows) == 0 {
		b, err := os.ReadFile(out)
		wantFile := ""
		if ext == ".csv" {
			wantFile = "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id\n"
		}
		if err != nil || string(b) != wantFile {
			t.Errorf("empty run left outcome file %q (%v), want %q", b, err, wantFile)
		}
		if n := srv.hits.Load(); n != 0 {
			t.Errorf("an empty run sent %d requests", n)
		}
		return out
	}

	got := readOutcomes(t, out)
	var attempts int64
	for line, o := range got {
		w, ok := rows[line]
		if !ok {
			t.Errorf("outcome on line %d, which should have none: %+v", line, o)
			continue
		}
		attempts += int64(o.Attempts)
		if o.Status != w.status {
			t.Errorf("line %d: %s (%s), want %s", line, o.Status, o.Error, w.status)
		}
		switch w.status {
		case revoke.Invalid:
			if !strings.Contains(o.Error, w.reason) || o.Attempts != 0 {
				t.Errorf("line %d: invalid with reason %q after %d attempts, want a reason saying %q", line, o.Error, o.Attempts, w.reason)
			}
		case revoke.Revoked:
			if !revokedOnServer(srv.Server, w.target) {
				t.Errorf("line %d recorded revoked, but %s is live on the server", line, w.target)
			}
			if kind, rest, _ := strings.Cut(w.target, ":"); kind == "token" && o.Target != input.Fingerprint(rest) {
				t.Errorf("line %d names target %q, want the fingerprint of its token", line, o.Target)
			}
		}
	}
	for line := range rows {
		if _, ok := got[line]; !ok {
			t.Errorf("line %d has no outcome", line)
		}
	}
	if n := srv.hits.Load(); n != attempts {
		t.Errorf("server received %d requests, outcome file counts %d attempts", n, attempts)
	}
	return out
}

// TestHugeFieldEndToEnd feeds generated files with fields of megabytes: the
// record holding one is invalid, reading goes on after it with true line
// numbers, and nothing of the field reaches the outcome file.
func TestHugeFieldEndToEnd(t *testing.T) {
	t.Parallel()
	const huge = 3 << 20
	big := strings.Repeat("a", huge)
	manyLines := strings.Repeat("x,y\n", huge/4) // a quoted cell of 786,432 lines
	cases := []struct {
		name    string
		content string
		rows    map[int64]rowWant
	}{
		{"huge.csv", "token,user,consumerKey,note\ntok-huge-0001,,,\n,,," + big + "\ntok-huge-0002,,,\n", map[int64]rowWant{
			2: revoked("token:tok-huge-0001"), 3: invalid("longer than 1 MiB"), 4: revoked("token:tok-huge-0002"),
		}},
		{"huge_token.csv", "token\ntok-huge-0003\n" + big + "\ntok-huge-0004\n", map[int64]rowWant{
			2: revoked("token:tok-huge-0003"), 3: invalid("longer than 1 MiB"), 4: revoked("token:tok-huge-0004"),
		}},
		{"long_token.csv", "token\n" + strings.Repeat("t", input.MaxTokenLen+1) + "\ntok-huge-0005\n", map[int64]rowWant{
			2: invalid("token longer than 4096 bytes"), 3: revoked("token:tok-huge-0005"),
		}},
		{"huge_multiline.csv", "token,note\ntok-huge-0006,\"" + manyLines + "\"\ntok-huge-0007,\n", map[int64]rowWant{
			2: invalid("longer than 1 MiB"), int64(3 + huge/4): revoked("token:tok-huge-0007"),
		}},
		{"huge.jsonl", `{"token":"tok-huge-0008"}` + "\n" + `{"note":"` + big + `"}` + "\n" + `{"token":"tok-huge-0009"}` + "\n", map[int64]rowWant{
			1: revoked("token:tok-huge-0008"), 2: invalid("longer than 1 MiB"), 3: revoked("token:tok-huge-0009"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), tc.name, tc.content)
			outcomeFileSmall(t, runCorpusFile(t, path, tc.rows, ""))
		})
	}
}

// outcomeFileSmall fails if the outcome file beside a run holds a field of
// the input: reasons never quote values.
func outcomeFileSmall(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 16<<10 || bytes.Contains(b, []byte("aaaaaaaa")) {
		t.Errorf("outcome file is %d bytes: it quotes the huge field", len(b))
	}
}

// TestImpossibleValuesEndToEnd runs files whose rows carry values no real
// target holds, in each field a request uses: every such row is invalid with
// its reason, and not one request is sent for it (the run's requests are
// exactly the valid rows' attempts). JSONL gives them as escapes too: a lone
// surrogate decodes to U+FFFD, which is refused.
func TestImpossibleValuesEndToEnd(t *testing.T) {
	t.Parallel()
	values := []struct{ csv, json, why string }{
		{"a\x00b", `a\u0000b`, "U+0000"},
		{"a\x1fb", `a\u001fb`, "U+001F"},
		{"a\x7fb", `a\u007fb`, "U+007F"},
		{"a\u0085b", `a\u0085b`, "U+0085"},
		{"a\uFFFDb", `a\ud800b`, "U+FFFD"},
		{"a\u202Eb", `a\u202eb`, "U+202E"},
		{"a\u2066b", `a\u2066b`, "U+2066"},
	}
	var csvRows, jsonRows strings.Builder
	csvRows.WriteString("token,user,consumerKey\n")
	csvWant, jsonWant := map[int64]rowWant{}, map[int64]rowWant{}
	add := func(csvRow, jsonRow string, w rowWant) {
		csvRows.WriteString(csvRow + "\n")
		csvWant[int64(len(csvWant)+2)] = w
		jsonRows.WriteString(jsonRow + "\n")
		jsonWant[int64(len(jsonWant)+1)] = w
	}
	for i, v := range values {
		tok, user, ck := fmt.Sprintf("tok-odd-%02d", i), fmt.Sprintf("odd%02d@example.com", i), fmt.Sprintf("ck-odd-%02d", i)
		add("tok"+v.csv+",,", `{"token":"tok`+v.json+`"}`, invalid("token contains"))
		add(","+v.csv+","+ck, `{"user":"`+v.json+`","consumerKey":"`+ck+`"}`, invalid("user contains"))
		add(","+user+","+v.csv, `{"user":"`+user+`","consumerKey":"`+v.json+`"}`, invalid("consumerKey contains"))
		// The same row made plain is sent: the value alone is refused.
		add(tok+",,", `{"token":"`+tok+`"}`, revoked("token:"+tok))
		add(","+user+","+ck, `{"user":"`+user+`","consumerKey":"`+ck+`"}`, revoked("user:"+user+"/"+ck))
	}
	dir := t.TempDir()
	for _, f := range []struct {
		name, content string
		want          map[int64]rowWant
	}{{"odd.csv", csvRows.String(), csvWant}, {"odd.jsonl", jsonRows.String(), jsonWant}} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			out := runCorpusFile(t, writeFile(t, dir, f.name, f.content), f.want, "")
			got := readOutcomes(t, out)
			for line, o := range got {
				if o.Status != revoke.Invalid {
					continue
				}
				v := values[(line-firstLine(f.name))/5]
				if !strings.Contains(o.Error, v.why) {
					t.Errorf("line %d: reason %q does not name %s", line, o.Error, v.why)
				}
			}
		})
	}
}

func firstLine(name string) int64 {
	if strings.HasSuffix(name, ".csv") {
		return 2
	}
	return 1
}

// TestUnclosedQuoteEndToEnd: a quote left open on line 3 of a CSV, followed
// by 3,000 good rows. The record of line 3 is invalid, naming the line, and
// each of the 3,000 rows after it gets its own outcome: revoked on the
// server. From a file and through a FIFO (spooled).
func TestUnclosedQuoteEndToEnd(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("token,user,consumerKey\ntok-unclosed-head,,\n\"tok-unclosed-open,,\n")
	rows := map[int64]rowWant{2: revoked("token:tok-unclosed-head"), 3: invalid("unclosed quote opened on line 3")}
	for i := range 3000 {
		tok := fmt.Sprintf("tok-unclosed-%04d", i)
		fmt.Fprintf(&b, "%s,,\n", tok)
		rows[int64(i+4)] = revoked("token:" + tok)
	}
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		runCorpusFile(t, writeFile(t, t.TempDir(), "unclosed.csv", b.String()), rows, "")
	})
	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		runCorpusFile(t, mkfifo(t, t.TempDir(), "unclosed.csv", b.String()), rows, "")
	})
}

// TestUnclosedQuotePastTheBound: the quote left open is followed by more
// than the 1 MiB record bound, so the reader must scan to the end to learn
// the quote never closes, then read the lines after it again. A dry run of
// 70,000 rows after it: every one gets its own outcome.
func TestUnclosedQuotePastTheBound(t *testing.T) {
	t.Parallel()
	const n = 70_000
	var b strings.Builder
	b.WriteString("token\n\"tok-bound-open\n")
	for i := range n {
		fmt.Fprintf(&b, "tok-bound-%06d\n", i)
	}
	if b.Len() <= input.MaxRecordLen {
		t.Fatalf("input is %d bytes, want more than the bound", b.Len())
	}
	dir := t.TempDir()
	for _, src := range []struct{ name, path string }{
		{"file", writeFile(t, dir, "in.csv", b.String())},
		{"fifo", mkfifo(t, dir, "fifo.csv", b.String())},
	} {
		out := filepath.Join(dir, src.name+"-out.csv")
		res := runMain(t, t.Context(), nil, "", "run", "--dry-run", "--log-format", "json", "--out", out, src.path)
		if res.code != ExitInvalid {
			t.Fatalf("%s: exit %d, want %d (one invalid row, nothing failed):\n%s", src.name, res.code, ExitInvalid, res.stderr)
		}
		got := readOutcomes(t, out)
		if len(got) != n+1 {
			t.Errorf("%s: %d outcomes, want %d", src.name, len(got), n+1)
		}
		if o := got[2]; o.Status != revoke.Invalid || !strings.Contains(o.Error, "unclosed quote opened on line 2") {
			t.Errorf("%s: line 2 is %s (%s), want invalid: unclosed quote", src.name, o.Status, o.Error)
		}
		for line := int64(3); line < n+3; line++ {
			if o := got[line]; o.Status != revoke.DryRun || o.Target != input.Fingerprint(fmt.Sprintf("tok-bound-%06d", line-3)) {
				t.Fatalf("%s: line %d is %+v, want its own dry_run outcome", src.name, line, o)
			}
		}
	}
}
