package input

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// impossible lists values no real token, login ID or consumer key holds,
// each as it sits in a CSV cell and in a JSON string (escaped where JSON
// needs or allows it), with what the reason must say. A JSON lone surrogate
// decodes to U+FFFD, so it is refused as that.
var impossible = []struct {
	name      string
	csv, json string
	// why is in the reason of a user or consumerKey row; for a token row
	// the reason is reasonTokenBadBytes and tokenWhy.
	why, tokenWhy string
}{
	{"invalid UTF-8", "b\xffo", "b\xffo", "not valid UTF-8", "invalid UTF-8"},
	{"truncated UTF-8", "b\xc3", "b\xc3", "not valid UTF-8", "invalid UTF-8"},
	{"U+FFFD", "b\uFFFDo", `b\ufffdo`, "replacement character (U+FFFD)", "U+FFFD"},
	{"raw U+FFFD", "b\uFFFDo", "b\uFFFDo", "replacement character (U+FFFD)", "U+FFFD"},
	{"lone high surrogate", "", `b\ud800o`, "replacement character (U+FFFD)", "U+FFFD"},
	{"lone low surrogate", "", `b\udfffo`, "replacement character (U+FFFD)", "U+FFFD"},
	{"reversed surrogate pair", "", `b\udc00\ud800`, "replacement character (U+FFFD)", "U+FFFD"},
	{"NUL", "b\x00o", `b\u0000o`, "control character (U+0000)", "U+0000"},
	{"C0 bell", "b\x07o", `b\u0007o`, "control character (U+0007)", "U+0007"},
	{"C0 escape", "b\x1bo", `b\u001bo`, "control character (U+001B)", "U+001B"},
	{"tab inside", "b\to", `b\to`, "control character (U+0009)", "U+0009"},
	{"newline inside", "\"b\no\"", `b\no`, "control character (U+000A)", "U+000A"},
	{"DEL", "b\x7fo", `b\u007fo`, "control character (U+007F)", "U+007F"},
	{"C1 NEL", "b\u0085o", `b\u0085o`, "control character (U+0085)", "U+0085"},
	{"C1 CSI", "b\u009bo", "b\u009bo", "control character (U+009B)", "U+009B"},
	{"LRE", "b\u202ao", `b\u202ao`, "bidi control character (U+202A)", "U+202A"},
	{"RLE", "b\u202bo", "b\u202bo", "bidi control character (U+202B)", "U+202B"},
	{"PDF", "b\u202co", `b\u202co`, "bidi control character (U+202C)", "U+202C"},
	{"LRO", "b\u202do", "b\u202do", "bidi control character (U+202D)", "U+202D"},
	{"RLO", "b\u202eo", `b\u202Eo`, "bidi control character (U+202E)", "U+202E"},
	{"LRI", "b\u2066o", `b\u2066o`, "bidi control character (U+2066)", "U+2066"},
	{"RLI", "b\u2067o", "b\u2067o", "bidi control character (U+2067)", "U+2067"},
	{"FSI", "b\u2068o", `b\u2068o`, "bidi control character (U+2068)", "U+2068"},
	{"PDI", "b\u2069o", "b\u2069o", "bidi control character (U+2069)", "U+2069"},
	{"RLM", "b\u200fo", `b\u200fo`, "bidi control character (U+200F)", "U+200F"},
	{"ALM", "b\u061co", "b\u061co", "bidi control character (U+061C)", "U+061C"},
	{"zero-width space", "b\u200bo", `b\u200bo`, "invisible format character (U+200B)", "U+200B"},
	{"BOM inside", "b\ufeffo", `b\ufeffo`, "invisible format character (U+FEFF)", "U+FEFF"},
	{"line separator", "b\u2028o", `b\u2028o`, "line or paragraph separator (U+2028)", "U+2028"},
	{"noncharacter", "b\uffffo", `b\uffffo`, "noncharacter (U+FFFF)", "U+FFFF"},
}

// TestImpossibleValues checks that each impossible value makes its row
// invalid, with the reason, in every field a request uses and in both
// formats; and that the same row with the value made plain is valid, so the
// refusal is the value's doing.
func TestImpossibleValues(t *testing.T) {
	t.Parallel()
	fields := []struct {
		name string
		kind Kind
		// csvRow and jsonRow place v in the field.
		csvRow  func(v string) string
		jsonRow func(v string) string
	}{
		{"token", KindToken, func(v string) string { return v + ",," },
			func(v string) string { return `{"token":"t` + v + `"}` }},
		{"user", KindUser, func(v string) string { return "," + v + ",ck-1" },
			func(v string) string { return `{"user":"` + v + `","consumerKey":"ck-1"}` }},
		{"consumerKey", KindUser, func(v string) string { return ",bo," + v },
			func(v string) string { return `{"user":"bo","consumerKey":"` + v + `"}` }},
	}
	for _, f := range fields {
		for _, v := range impossible {
			reason := f.name + " "
			if f.kind == KindToken {
				reason = reasonTokenBadBytes + ": "
			}
			t.Run(f.name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				if v.csv != "" {
					in := "token,user,consumerKey\n" + f.csvRow(v.csv) + "\n" + f.csvRow("plain") + "\n"
					rows, err := readAll(strings.NewReader(in), CSV, MaxRecordLen)
					checkRefused(t, "csv", rows, err, f.kind, reason, v)
				}
				in := f.jsonRow(v.json) + "\n" + f.jsonRow("plain") + "\n"
				rows, err := readAll(strings.NewReader(in), JSONL, MaxRecordLen)
				if !utf8.ValidString(v.json) {
					// The whole line is refused before its fields are read.
					if err != nil || len(rows) != 2 || rows[0].Invalid != "line is not valid UTF-8" || rows[1].Invalid != "" {
						t.Errorf("jsonl: got %+v, %v; want line 1 refused as not UTF-8, line 2 valid", rows, err)
					}
					return
				}
				checkRefused(t, "jsonl", rows, err, f.kind, reason, v)
			})
		}
	}
}

func checkRefused(t *testing.T, format string, rows []Row, err error, kind Kind, reason string, v struct {
	name, csv, json, why, tokenWhy string
}) {
	t.Helper()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%s: got %d rows, %v; want 2", format, len(rows), err)
	}
	got := rows[0]
	if got.Kind != kind || got.Invalid == "" || !strings.Contains(got.Invalid, reason) {
		t.Errorf("%s: row 1 is %s with reason %q; want %s, invalid with %q", format, got.Kind, got.Invalid, kind, reason)
	}
	if kind == KindToken && !strings.Contains(got.Invalid, v.tokenWhy) {
		t.Errorf("%s: token reason %q does not say %q", format, got.Invalid, v.tokenWhy)
	}
	if kind != KindToken && !strings.Contains(got.Invalid, v.why) {
		t.Errorf("%s: reason %q does not say %q", format, got.Invalid, v.why)
	}
	if rows[1].Invalid != "" {
		t.Errorf("%s: the same row with a plain value is invalid: %q", format, rows[1].Invalid)
	}
	if got.Invalid != "" && strings.Contains(got.Invalid, "plain") {
		t.Errorf("%s: reason quotes a value: %q", format, got.Invalid)
	}
}

// TestImpossibleRuneAllowsRealNames keeps the refusals from reaching what
// real login IDs hold.
func TestImpossibleRuneAllowsRealNames(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"José Müller", "ann@example.com", "王小明", "Ørsted, the admin", "d'Arcy-O'Neil", "user+tag@ex.co", "عمر", "🙂"} {
		if r := checkText("user", s); r != "" {
			t.Errorf("checkText(%q) = %q", s, r)
		}
	}
}
