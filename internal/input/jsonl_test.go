package input

import (
	"strings"
	"testing"
)

func TestJSONL(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60)
	tests := []struct {
		name    string
		in      string
		maxLine int // 0: MaxRecordLen
		want    []want
		wantErr string
	}{
		{
			name: "token and user rows mixed",
			in:   `{"token":"t-1"}` + "\n" + `{"user":"bo","consumerKey":"ck"}` + "\n",
			want: []want{{1, tok, true, ""}, {2, usr, true, ""}},
		},
		{
			name: "aliases in any case, with spaces around keys",
			in: `{"ACCESS_TOKEN":"t-1"}` + "\n" + `{"login_id":"bo","client_id":"ck"}` + "\n" +
				`{"User_Login_ID":"bo","consumer_key":"ck"}` + "\n" + `{" token ":"t-2","Token_Type_Hint":"access_token"}` + "\n",
			want: []want{{1, tok, true, ""}, {2, usr, true, ""}, {3, usr, true, ""}, {4, tok, true, ""}},
		},
		{
			name: "unknown keys of any type are ignored",
			in:   `{"n":1,"o":{"token":5,"s":"}]\""},"a":[{"user":[]}],"b":true,"z":null,"token":"t-1","f":-1.5e3}` + "\n",
			want: []want{{1, tok, true, ""}},
		},
		{
			name: "escapes in keys and values",
			in:   `{"\u0074oken":"t\u002d1"}` + "\n" + `{"user":"b\u00f8","consumerKey":"c\/k"}` + "\n",
			want: []want{{1, tok, true, ""}, {2, usr, true, ""}},
		},
		{
			name: "blank lines, whitespace-only lines and CRLF count for line numbers",
			in:   "\r\n" + `{"token":"t-1"}` + "\r\n \t \r\n\n" + `  {"token":"t-2"}  ` + "\r\n\r\n",
			want: []want{{2, tok, true, ""}, {5, tok, true, ""}},
		},
		{
			name: "BOM before the first object",
			in:   "\ufeff" + `{"token":"t-1"}`,
			want: []want{{1, tok, true, ""}},
		},
		{name: "empty file", in: ""},
		{name: "only blank lines", in: "\n \r\n\t\n"},
		{
			name: "line that is not valid JSON",
			in:   `{"token":"t-1"` + "\n" + `{token:"t-2"}` + "\n" + `{"token":"t-3"} {"token":"t-4"}` + "\n" + `{"token":"t-5"}`,
			want: []want{
				{1, none, false, "line is not valid JSON: it ends before"},
				{2, none, false, "line is not valid JSON: unexpected character at column 2"},
				{3, none, false, "line is not valid JSON"},
				{4, tok, true, ""},
			},
		},
		{
			name: "line that is not an object",
			in:   "\"t-1\"\n[1]\n42\ntrue\nnull\n",
			want: []want{
				{1, none, false, "expected a JSON object, got string"},
				{2, none, false, "expected a JSON object, got array"},
				{3, none, false, "expected a JSON object, got number"},
				{4, none, false, "expected a JSON object, got boolean"},
				{5, none, false, "expected a JSON object, got null"},
			},
		},
		{
			name: "values that are not strings",
			in: `{"token":12}` + "\n" + `{"token":true}` + "\n" + `{"user":"bo","consumerKey":{"a":"b"}}` + "\n" +
				`{"user":["bo"],"consumerKey":"ck"}` + "\n",
			want: []want{
				{1, none, false, "field token: expected a string, got number"},
				{2, none, false, "field token: expected a string, got boolean"},
				{3, usr, false, "field consumerKey: expected a string, got object"},
				{4, usr, false, "field user: expected a string, got array"},
			},
		},
		{
			name: "null and empty values count as absent",
			in:   `{"token":null,"user":"bo","consumerKey":"ck"}` + "\n" + `{"token":"t-1","user":"  ","consumerKey":null}` + "\n",
			want: []want{{1, usr, true, ""}, {2, tok, true, ""}},
		},
		{
			name: "a field given twice, under one name or two",
			in:   `{"token":"t-1","token":"t-2"}` + "\n" + `{"token":"t-1","access_token":"t-1"}` + "\n" + `{"user":"bo","consumerKey":"ck","client_id":null}` + "\n",
			want: []want{
				{1, tok, false, "field token given more than once"},
				{2, tok, false, "field token given more than once"},
				{3, usr, false, "field consumerKey given more than once"},
			},
		},
		{
			name: "neither kind, both kinds, and half a user row",
			in:   "{}\n" + `{"token":"t-1","user":"bo","consumerKey":"ck"}` + "\n" + `{"user":"bo"}` + "\n" + `{"consumerKey":"ck"}` + "\n",
			want: []want{
				{1, none, false, reasonNoTarget},
				{2, none, false, reasonBothKinds},
				{3, usr, false, reasonUserNoKey},
				{4, usr, false, reasonKeyNoUser},
			},
		},
		{
			name: "values are trimmed of spaces and tabs only",
			in:   `{"token":" \tt-1\t "}` + "\n" + `{"token":"t-1\n"}` + "\n",
			want: []want{{1, tok, true, ""}, {2, tok, false, reasonTokenBadBytes}},
		},
		{
			name: "token that is not printable ASCII without spaces",
			in:   `{"token":"t 1"}` + "\n" + `{"token":"t\u0001"}` + "\n" + `{"token":"tøk"}` + "\n" + `{"token":"` + strings.Repeat("x", MaxTokenLen+1) + `"}` + "\n",
			want: []want{
				{1, tok, false, reasonTokenBadBytes},
				{2, tok, false, reasonTokenBadBytes},
				{3, tok, false, reasonTokenBadBytes},
				{4, tok, false, reasonTokenTooLong},
			},
		},
		{
			name: "control characters and invalid UTF-8",
			in:   `{"user":"b\u0007o","consumerKey":"ck"}` + "\n" + `{"user":"b` + "\xff" + `o","consumerKey":"ck"}` + "\n" + `{"user":"bo","consumerKey":"c\u009fk"}` + "\n",
			want: []want{
				{1, usr, false, "user contains a control character"},
				{2, none, false, "line is not valid UTF-8"},
				{3, usr, false, "consumerKey contains a control character"},
			},
		},
		{
			name:    "line longer than the bound, and reading resumes",
			in:      `{"token":"t-1"}` + "\n" + `{"token":"` + long + `"}` + "\n" + `{"token":"t-2"}` + "\n",
			maxLine: 40,
			want:    []want{{1, tok, true, ""}, {2, none, false, "line longer than 40 bytes"}, {3, tok, true, ""}},
		},
		{
			name:    "long last line without a newline",
			in:      `{"token":"t-1"}` + "\n" + long,
			maxLine: 40,
			want:    []want{{1, tok, true, ""}, {2, none, false, "line longer than 40 bytes"}},
		},
		{
			name:    "whitespace-only line longer than the bound is still blank",
			in:      strings.Repeat(" \t", 50) + "\r\n" + `{"token":"t-1"}` + "\n",
			maxLine: 40,
			want:    []want{{2, tok, true, ""}},
		},
		{
			name:    "line of exactly the bound, with CRLF",
			in:      `{"token":"` + strings.Repeat("x", 28) + `"}` + "\r\n" + `{"token":"` + strings.Repeat("x", 29) + `"}` + "\r\n",
			maxLine: 40,
			want:    []want{{1, tok, true, ""}, {2, none, false, "line longer than 40 bytes"}},
		},
		{
			name:    "JSON array",
			in:      "[\n" + `{"token":"t-1"}` + "\n]\n",
			wantErr: "input is a JSON array, not JSON Lines",
		},
		{
			name:    "JSON array after a BOM and blank lines",
			in:      "\ufeff\r\n  \n\t[{}]",
			wantErr: "input is a JSON array, not JSON Lines",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkTable(t, tt.in, JSONL, tt.maxLine, tt.want, tt.wantErr)
		})
	}
}

// TestJSONLValues checks what a valid row carries, beyond its shape.
func TestJSONLValues(t *testing.T) {
	t.Parallel()
	in := `{"Client_ID":" ck-1 ","note":{"x":[1]},"login_id":"ann@example.com"}` + "\n" +
		`{"access_token":"t-\u0031","token_type_hint":"refresh_token"}` + "\n"
	rows, err := readAll(strings.NewReader(in), JSONL, MaxRecordLen)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Line: 1, Kind: KindUser, User: "ann@example.com", ConsumerKey: "ck-1"},
		{Line: 2, Kind: KindToken, Token: "t-1", TokenTypeHint: "refresh_token"},
	}
	if !equalRows(rows, want) {
		t.Errorf("got %+v\nwant %+v", rows, want)
	}
}
