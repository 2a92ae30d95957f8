package input

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readAll reads every row of in under o, failing the test on an error.
func readOpts(t *testing.T, in string, f Format, o Options) ([]Row, *Reader) {
	t.Helper()
	rd, err := OpenOptions(strings.NewReader(in), f, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var rows []Row
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, rd
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		rows = append(rows, row)
	}
}

// TestHeaderSpellings: every spelling of a built-in name is that name, in a
// CSV header and as a JSONL key: case, surrounding spaces, a BOM, and the
// separators space, _ and - do not matter.
func TestHeaderSpellings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    field
	}{
		{"Login ID", fieldUser}, {"login_id", fieldUser}, {"LOGIN-ID", fieldUser}, {"LoginId", fieldUser},
		{"  login id  ", fieldUser}, {"\uFEFFLogin ID", fieldUser}, {"Login__ID", fieldUser}, {"user", fieldUser},
		{"User Login ID", fieldUser}, {"Email Address", fieldUser}, {"email", fieldUser}, {"E-Mail", fieldUser},
		{"Client ID", fieldConsumerKey}, {"Consumer Key", fieldConsumerKey}, {"consumerKey", fieldConsumerKey},
		{"CONSUMER_KEY", fieldConsumerKey}, {"client-id", fieldConsumerKey},
		{"Access Token", fieldToken}, {"access_token", fieldToken}, {"TOKEN", fieldToken},
		{"Token Type Hint", fieldTokenTypeHint},
		// Not a name of ours: near misses stay context.
		{"Login", fieldUser}, {"Name", noField}, {"LoginIDs", noField}, {"user.id", noField}, {"\u212Aey", noField},
		{"Client", noField}, {"", noField}, {"_", noField},
	}
	for _, tc := range tests {
		if got := fieldOf([]byte(tc.name)); got != tc.f {
			t.Errorf("fieldOf(%q) = %v, want %v", tc.name, got, tc.f)
		}
	}
	// Through the readers: a login-ID CSV with HR's header, and JSONL keys.
	for _, h := range []string{"Login ID", "login_id", "LOGIN-ID", "LoginId", "Email Address"} {
		for _, k := range []string{"Client ID", "Consumer Key", "client_id", "consumerKey"} {
			rows, _ := readOpts(t, "\uFEFF"+h+",Name,"+k+"\r\nbo@example.com,Bo,ck-1\r\n", CSV, Options{})
			if len(rows) != 1 || rows[0].Invalid != "" || rows[0].User != "bo@example.com" || rows[0].ConsumerKey != "ck-1" {
				t.Errorf("CSV header %q,%q: rows %+v", h, k, rows)
			}
			rows, _ = readOpts(t, `{"`+h+`":"bo@example.com","`+k+`":"ck-1"}`+"\n", JSONL, Options{})
			if len(rows) != 1 || rows[0].Invalid != "" || rows[0].User != "bo@example.com" || rows[0].ConsumerKey != "ck-1" {
				t.Errorf("JSONL keys %q,%q: rows %+v", h, k, rows)
			}
		}
	}
	// Two spellings of one name in one header are one column given twice.
	if _, err := Open(strings.NewReader("Login ID,login_id,consumerKey\n"), CSV); err == nil || !strings.Contains(err.Error(), "both give user") {
		t.Errorf("two spellings of user: %v", err)
	}
}

// TestHeaderRefusal: a header that matches nothing is refused with the cells
// it holds, a cell that may be a token shown only as its fingerprint, and
// the column flags suggested.
func TestHeaderRefusal(t *testing.T) {
	t.Parallel()
	const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu"
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Name,Department\nBo,HR\n", []string{`"Name"`, `"Department"`, "--user-column", "--token-column", "is the header line missing"}},
		{secret + ",\n", []string{Fingerprint(secret), "may be a token", "is the header line missing"}},
		{"Login ID,Name\nbo,Bo\n", []string{`"Login ID"`, `"Name"`, "--consumer-key"}},
	} {
		_, err := Open(strings.NewReader(tc.in), CSV)
		if err == nil {
			t.Errorf("%q: opened", tc.in)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v\ndoes not say %q", tc.in, err, w)
			}
		}
		if strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("%q: the refusal shows a piece of the token: %v", tc.in, err)
		}
	}
}

// TestColumnFlags: a named column replaces the built-in names of its field,
// wins over another field's built-in name, and is refused when the input
// lacks it (CSV at the header, JSONL by the survey).
func TestColumnFlags(t *testing.T) {
	t.Parallel()
	o := Options{UserColumn: "Employee Login", ConsumerKeyColumn: "App"}
	rows, _ := readOpts(t, "user,employee_login,APP\nmanager@example.com,bo@example.com,ck-1\n", CSV, o)
	if len(rows) != 1 || rows[0].Invalid != "" || rows[0].User != "bo@example.com" || rows[0].ConsumerKey != "ck-1" {
		t.Errorf("named columns: %+v", rows)
	}
	// --user-column naming a built-in name of another field.
	rows, _ = readOpts(t, "client_id,consumer\nbo,ck-1\n", CSV, Options{UserColumn: "client_id", ConsumerKeyColumn: "consumer"})
	if len(rows) != 1 || rows[0].User != "bo" || rows[0].ConsumerKey != "ck-1" {
		t.Errorf("override over a built-in name: %+v", rows)
	}
	rows, _ = readOpts(t, `{"Employee Login":"bo","app":"ck-1","user":"x"}`+"\n", JSONL, o)
	if len(rows) != 1 || rows[0].Invalid != "" || rows[0].User != "bo" || rows[0].ConsumerKey != "ck-1" {
		t.Errorf("named JSONL keys: %+v", rows)
	}
	if _, err := OpenOptions(strings.NewReader("Login ID,consumerKey\nbo,ck\n"), CSV, Options{UserColumn: "Employee"}); err == nil ||
		!strings.Contains(err.Error(), `--user-column "Employee": the input has no such column`) || !strings.Contains(err.Error(), `"Login ID"`) {
		t.Errorf("CSV without the named column: %v", err)
	}
	in := `{"login":"bo","consumerKey":"ck"}` + "\n"
	if _, err := ShardLines(strings.NewReader(in), JSONL, Shard{}, Options{TokenColumn: "secret"}, nil); err == nil ||
		!strings.Contains(err.Error(), `--token-column "secret"`) {
		t.Errorf("JSONL without the named key: %v", err)
	}
	// An empty JSONL input lacks nothing: an empty run is normal for cron.
	if _, err := ShardLines(strings.NewReader("\n"), JSONL, Shard{}, Options{TokenColumn: "secret"}, nil); err != nil {
		t.Errorf("empty JSONL input: %v", err)
	}
	if CheckColumnName(" _- ") == nil || CheckColumnName("Login ID") != nil {
		t.Error("CheckColumnName")
	}
}

// TestRowKind: --row-kind token reads breach exports' tokens with their
// context; user reads only user and consumerKey; token needs a token column.
func TestRowKind(t *testing.T) {
	t.Parallel()
	breach := "access_token,user,client_id,last_seen\ntok-1,bo@example.com,ck-1,2026-11-30\n,al@example.com,ck-1,2026-11-30\n"
	rows, _ := readOpts(t, breach, CSV, Options{})
	if len(rows) != 2 || !strings.Contains(rows[0].Invalid, "both a token and a user") {
		t.Errorf("auto: %+v", rows)
	}
	rows, _ = readOpts(t, breach, CSV, Options{RowKind: RowToken})
	if len(rows) != 2 || rows[0].Invalid != "" || rows[0].Kind != KindToken || rows[0].Token != "tok-1" || rows[0].User != "" {
		t.Errorf("token: first row %+v", rows)
	} else if !strings.Contains(rows[1].Invalid, "no token given") {
		t.Errorf("token: a row without a token is %+v", rows[1])
	}
	rows, _ = readOpts(t, breach, CSV, Options{RowKind: RowUser})
	if len(rows) != 2 || rows[0].Invalid != "" || rows[0].Kind != KindUser || rows[0].Token != "" || rows[0].User != "bo@example.com" {
		t.Errorf("user: %+v", rows)
	}
	rows, _ = readOpts(t, `{"access_token":"tok-1","user":"bo","client_id":"ck"}`+"\n", JSONL, Options{RowKind: RowToken})
	if len(rows) != 1 || rows[0].Invalid != "" || rows[0].Kind != KindToken {
		t.Errorf("token, JSONL: %+v", rows)
	}
	if _, err := OpenOptions(strings.NewReader("user,consumerKey\nbo,ck\n"), CSV, Options{RowKind: RowToken}); err == nil ||
		!strings.Contains(err.Error(), "--row-kind token: the input has no token column") {
		t.Errorf("token without a token column, CSV: %v", err)
	}
	if _, err := ShardLines(strings.NewReader(`{"user":"bo","consumerKey":"ck"}`+"\n"), JSONL, Shard{}, Options{RowKind: RowToken}, nil); err == nil ||
		!strings.Contains(err.Error(), "--row-kind token") {
		t.Errorf("token without a token key, JSONL: %v", err)
	}
	if _, err := OpenOptions(strings.NewReader("token\nt\n"), CSV, Options{RowKind: RowUser}); err == nil ||
		!strings.Contains(err.Error(), "--row-kind user") {
		t.Errorf("user without a user column: %v", err)
	}
	for _, s := range []string{"", "auto", "token", "user"} {
		if _, err := ParseRowKind(s); err != nil {
			t.Errorf("ParseRowKind(%q): %v", s, err)
		}
	}
	if _, err := ParseRowKind("tokens"); err == nil {
		t.Error("ParseRowKind(tokens) accepted")
	}
}

// TestEmptyRows: records of empty cells are no rows and are counted, the
// same by Next, Count and Survey.
func TestEmptyRows(t *testing.T) {
	t.Parallel()
	in := "Login ID,Name,consumerKey\nbo,Bo,ck\n,,\n \t, ,\n\nal,Al,ck\n,,,,\n,,\n"
	rows, rd := readOpts(t, in, CSV, Options{})
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 6 || rd.EmptyRows() != 4 {
		t.Errorf("rows %+v, empty %d; want lines 2 and 6, 4 empty", rows, rd.EmptyRows())
	}
	n, err := Count(strings.NewReader(in), CSV)
	if err != nil || n != 2 {
		t.Errorf("Count = %d, %v; want 2", n, err)
	}
	for _, o := range []Options{{}, {ConsumerKeys: []string{"other"}}} {
		rows, empty, err := Survey(strings.NewReader(in), CSV, Shard{}, o, nil)
		if err != nil || rows != 2 || empty != 4 {
			t.Errorf("Survey(%+v) = %d, %d, %v; want 2, 4", o, rows, empty, err)
		}
	}
	// A quoted empty cell is empty too; a cell of text outside our columns
	// is not: that row is a row, and invalid.
	rows, _ = readOpts(t, "token,note\n\"\",\"\"\n,leaver\n", CSV, Options{})
	if len(rows) != 1 || rows[0].Line != 3 || rows[0].Invalid == "" {
		t.Errorf("rows %+v", rows)
	}
}

// TestFanOut: a user row naming no consumerKey gives one row per listed
// application, in order; a row naming its own keeps it; token rows and
// invalid rows are one row each.
func TestFanOut(t *testing.T) {
	t.Parallel()
	o := Options{ConsumerKeys: []string{"ck-a", "ck-b", "ck-c"}}
	in := "Login ID,Client ID,token\nbo,,\nal,ck-own,\n,,tok-1\nbad\x01user,,\ncy,,\n"
	rows, _ := readOpts(t, in, CSV, o)
	type got struct {
		line    int64
		user    string
		key     string
		invalid bool
	}
	want := []got{
		{2, "bo", "ck-a", false}, {2, "bo", "ck-b", false}, {2, "bo", "ck-c", false},
		{3, "al", "ck-own", false},
		{4, "", "", false},
		{5, "bad\x01user", "", true},
		{6, "cy", "ck-a", false}, {6, "cy", "ck-b", false}, {6, "cy", "ck-c", false},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if (got{r.Line, r.User, r.ConsumerKey, r.Invalid != ""}) != w {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	n, err := ShardLines(strings.NewReader(in), CSV, Shard{}, o, nil)
	if err != nil || n != int64(len(want)) {
		t.Errorf("ShardLines = %d, %v; want %d", n, err, len(want))
	}
	// Without --consumer-key, a login-ID-only file has no usable columns;
	// with it, it has.
	if _, err := Open(strings.NewReader("Login ID,Name\nbo,Bo\n"), CSV); err == nil {
		t.Error("login-ID-only file opened without consumer keys")
	}
	rows, _ = readOpts(t, "Login ID,Name\nbo,Bo\n", CSV, Options{ConsumerKeys: []string{"ck-a", "ck-b"}})
	if len(rows) != 2 || rows[0].ConsumerKey != "ck-a" || rows[1].ConsumerKey != "ck-b" || rows[0].Key() == rows[1].Key() {
		t.Errorf("login-ID-only rows: %+v", rows)
	}
	// A user row with neither its own consumerKey nor --consumer-key.
	rows, _ = readOpts(t, "user,consumerKey\nbo,\n", CSV, Options{})
	if len(rows) != 1 || rows[0].Invalid != reasonUserNoKey {
		t.Errorf("no key: %+v", rows)
	}
}

// TestFanOutShards: the targets of a fanned-out input fall into shards that
// are disjoint and together complete, each (line, application) in one.
func TestFanOutShards(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Login ID\n")
	for i := range 200 {
		b.WriteString("user" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.com\n")
	}
	o := Options{ConsumerKeys: []string{"ck-a", "ck-b", "ck-c"}}
	all, _ := readOpts(t, b.String(), CSV, o)
	if len(all) != 600 {
		t.Fatalf("%d targets, want 600", len(all))
	}
	type target struct {
		line int64
		key  string
	}
	owner := map[target]int{}
	perLine := map[int64]map[int]bool{}
	for i := range 4 {
		rd, err := OpenOptions(strings.NewReader(b.String()), CSV, o)
		if err != nil {
			t.Fatal(err)
		}
		sr := NewShardReader(rd, Shard{Index: i, Count: 4})
		for {
			row, err := sr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			k := target{row.Line, row.ConsumerKey}
			if prev, ok := owner[k]; ok {
				t.Errorf("%v in shards %d and %d", k, prev, i)
			}
			owner[k] = i
			if perLine[row.Line] == nil {
				perLine[row.Line] = map[int]bool{}
			}
			perLine[row.Line][i] = true
		}
	}
	if len(owner) != len(all) {
		t.Errorf("%d targets across shards, want %d", len(owner), len(all))
	}
	split := 0
	for _, shards := range perLine {
		if len(shards) > 1 {
			split++
		}
	}
	// By target, not by line: most lines' applications land in several
	// shards (a line-based split would put all three in one).
	if split == 0 {
		t.Error("no line's applications are split across shards: sharding is not by target")
	}
}

func TestCheckConsumerKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"ck-1", "eZByXv2X41cJlC21pSVvRi", "a.b_c~d"} {
		if err := CheckConsumerKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	for _, k := range []string{"", "ck 1", "ck\t1", "cké", "ck\x00", strings.Repeat("k", 513)} {
		if err := CheckConsumerKey(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
}

// TestEmptyRowPastTheBound: a record of empty cells longer than the record
// bound is still no row, as it is within it; with a single other byte it is
// a too-long row.
func TestEmptyRowPastTheBound(t *testing.T) {
	t.Parallel()
	in := "token,user\nt-1,\n" + strings.Repeat(" ,", 40) + "\nt-2,\n" + strings.Repeat(" ,", 40) + "x\n"
	rows, err := readAll(strings.NewReader(in), CSV, 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Line != 2 || rows[1].Line != 4 || rows[2].Line != 5 || !strings.Contains(rows[2].Invalid, "longer than") {
		t.Errorf("rows %+v", rows)
	}
	n, empty, err := count(strings.NewReader(in), CSV, 24, nil)
	if err != nil || n != 3 || empty != 1 {
		t.Errorf("count = %d, %d, %v; want 3, 1", n, empty, err)
	}
}
