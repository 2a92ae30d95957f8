package input

import (
	"strings"
	"testing"
)

const (
	tok  = KindToken
	usr  = KindUser
	none = Kind("")
)

func TestCSV(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60)
	tests := []struct {
		name      string
		in        string
		maxRecord int // 0: MaxRecordLen
		want      []want
		wantErr   string // Open must refuse the file with this in the error
	}{
		{
			name: "token and user rows mixed",
			in:   "token,user,consumerKey\ntok-1,,\n,ann@example.com,ck-1\n",
			want: []want{{2, tok, true, ""}, {3, usr, true, ""}},
		},
		{
			name: "header case, spaces and BOM",
			in:   "\ufeff Token ,USER,\tConsumerKey \nt-1,,\n,bo,ck\n",
			want: []want{{2, tok, true, ""}, {3, usr, true, ""}},
		},
		{
			name: "quoted header after BOM",
			in:   "\ufeff\"token\",\"user\",\"consumerKey\"\nt-1,,\n",
			want: []want{{2, tok, true, ""}},
		},
		{
			name: "aliases",
			in:   "access_token,user_login_id,consumer_key\nt-1,,\n,bo,ck\n",
			want: []want{{2, tok, true, ""}, {3, usr, true, ""}},
		},
		{
			name: "login_id and client_id aliases",
			in:   "login_id,client_id\nbo,ck\n",
			want: []want{{2, usr, true, ""}},
		},
		{
			name: "unknown columns are ignored",
			in:   "note,token,ticket\nlaptop stolen,t-1,INC-1\n",
			want: []want{{2, tok, true, ""}},
		},
		{
			name: "token_type_hint column",
			in:   "token,token_type_hint\nt-1,refresh_token\nt-2,\n",
			want: []want{{2, tok, true, ""}, {3, tok, true, ""}},
		},
		{
			name:    "header with none of the columns",
			in:      "name,department\nann,HR\n",
			wantErr: "no usable columns",
		},
		{
			name:    "header with user but no consumerKey",
			in:      "user,note\nann,leaver\n",
			wantErr: "a user column but no consumerKey column",
		},
		{
			name:    "header naming one field twice",
			in:      "token,user,Access_Token\nt-1,,\n",
			wantErr: `columns 1 ("token") and 3 ("Access_Token") both give token`,
		},
		{
			name:    "header that is not CSV",
			in:      "tok\"en,user\nt-1,\n",
			wantErr: "read csv header",
		},
		{
			name:      "header longer than the bound",
			in:        "token," + long + "\nt-1,\n",
			maxRecord: 40,
			wantErr:   "header longer than 40 bytes",
		},
		{name: "empty file", in: ""},
		{name: "only a BOM", in: "\ufeff"},
		{name: "only blank lines", in: "\n\r\n\n"},
		{name: "header only", in: "token,user,consumerKey\n"},
		{name: "header only without newline", in: "token"},
		{
			name: "CRLF line endings",
			in:   "token,user,consumerKey\r\nt-1,,\r\n,bo,ck\r\n",
			want: []want{{2, tok, true, ""}, {3, usr, true, ""}},
		},
		{
			name: "blank lines count for line numbers",
			in:   "\n\ntoken\n\nt-1\n\r\n\nt-2",
			want: []want{{5, tok, true, ""}, {8, tok, true, ""}},
		},
		{
			name: "quoted cells with commas and newlines",
			in:   "token,user,consumerKey,note\nt-1,,,\"a, b\nc\nd\"\n\"t-2\",,,\n,\"e, f\",ck,\n",
			want: []want{{2, tok, true, ""}, {5, tok, true, ""}, {6, usr, true, ""}},
		},
		{
			name: "values are trimmed of spaces and tabs",
			in:   "token,user,consumerKey\n \tt-1\t ,,\n, bo , ck\t\n",
			want: []want{{2, tok, true, ""}, {3, usr, true, ""}},
		},
		{
			// Strict RFC 4180: a quote must open the cell.
			name: "quoted cell after a space",
			in:   "token,user,consumerKey\n, \"bo\",ck\n,bo,ck\n",
			want: []want{{2, none, false, `bare "`}, {3, usr, true, ""}},
		},
		{
			name: "empty and blank cells count as absent",
			in:   "token,user,consumerKey\n  ,bo,ck\nt-1,\t, \n",
			want: []want{{2, usr, true, ""}, {3, tok, true, ""}},
		},
		{
			name: "neither kind",
			in:   "token,user,consumerKey,note\n,,,leaver\n",
			want: []want{{2, none, false, reasonNoTarget}},
		},
		{
			// Spreadsheets end their exports in rows of empty cells:
			// no rows, like blank lines.
			name: "empty rows",
			in:   "token,user,consumerKey\n,,\n   \nt-1,,\n , \t,\n,,,,\n",
			want: []want{{4, tok, true, ""}},
		},
		{
			name: "both kinds",
			in:   "token,user,consumerKey\nt-1,bo,ck\nt-2,,ck\n",
			want: []want{{2, none, false, reasonBothKinds}, {3, none, false, reasonBothKinds}},
		},
		{
			name: "user without consumerKey and the reverse",
			in:   "token,user,consumerKey\n,bo,\n,,ck\n",
			want: []want{{2, usr, false, reasonUserNoKey}, {3, usr, false, reasonKeyNoUser}},
		},
		{
			name: "token that is not printable ASCII without spaces",
			in:   "token\nt 1\n\"t\x01\"\nt\x7f\ntoké\n\"t\n1\"\n!~\n",
			want: []want{
				{2, tok, false, reasonTokenBadBytes},
				{3, tok, false, reasonTokenBadBytes},
				{4, tok, false, reasonTokenBadBytes},
				{5, tok, false, reasonTokenBadBytes},
				{6, tok, false, reasonTokenBadBytes},
				{8, tok, true, ""},
			},
		},
		{
			name: "token length bound",
			in:   "token\n" + strings.Repeat("x", MaxTokenLen) + "\n" + strings.Repeat("x", MaxTokenLen+1) + "\n",
			want: []want{{2, tok, true, ""}, {3, tok, false, reasonTokenTooLong}},
		},
		{
			name: "user and consumerKey with control characters or bad UTF-8",
			in:   "user,consumerKey\nb\x07o,ck\nb\xffo,ck\nbo,c\x7fk\nbo,c\u0085k\nbø,ck\n",
			want: []want{
				{2, usr, false, "user contains a control character"},
				{3, usr, false, "user is not valid UTF-8"},
				{4, usr, false, "consumerKey contains a control character"},
				{5, usr, false, "consumerKey contains a control character"},
				{6, usr, true, ""},
			},
		},
		{
			name: "token_type_hint with a control character",
			in:   "token,token_type_hint\nt-1,a\x01b\n",
			want: []want{{2, tok, false, "token_type_hint contains a control character"}},
		},
		{
			name: "too many fields keeps what it knows; too few is fine",
			in:   "token,user,consumerKey\nt-1,,,x\n,bo,ck,x,y\nt-2\n,bo\n",
			want: []want{
				{2, tok, false, "record has 4 fields, the header has 3"},
				{3, usr, false, "record has 5 fields, the header has 3"},
				{4, tok, true, ""},
				{5, usr, false, reasonUserNoKey},
			},
		},
		{
			name: "bare quote and stray quote, then the reader goes on",
			in:   "token\nt\"1\n\"t-2\"x\nt-3\n",
			want: []want{
				{2, none, false, `bare "`},
				{3, none, false, `extraneous or missing "`},
				{4, tok, true, ""},
			},
		},
		{
			name: "bad quote inside a multi-line record",
			in:   "token,note\nt-1,\"a\nb\"c\nt-2,\n",
			want: []want{{2, none, false, "spanning lines 2-3"}, {4, tok, true, ""}},
		},
		{
			name: "unclosed quote: its line is invalid, every later line is read",
			in:   "token\nt-1\n\"t-2\nt-3\nt-4\n",
			want: []want{{2, tok, true, ""}, {3, none, false, "unclosed quote opened on line 3"}, {4, tok, true, ""}, {5, tok, true, ""}},
		},
		{
			name:      "unclosed quote past the bound on the last line",
			in:        "token\nt-1\n\"" + long + "\n",
			maxRecord: 40,
			want:      []want{{2, tok, true, ""}, {3, none, false, "unclosed quote opened on line 3"}},
		},
		{
			name: "unclosed quote on the last line, no newline",
			in:   "token\nt-1\n\"t-2",
			want: []want{{2, tok, true, ""}, {3, none, false, "unclosed quote opened on line 3"}},
		},
		{
			name: "unclosed quote after a closed multi-line cell names the record's span",
			in:   "token,note\nt-1,\"a\nb\",\"c\nt-2,\nt-3,\n",
			want: []want{{2, none, false, "record spanning lines 2-3: unclosed quote opened on line 3"}, {4, tok, true, ""}, {5, tok, true, ""}},
		},
		{
			name: "a multi-line quoted cell closed later stays one record",
			in:   "token,note\nt-1,\"a\nt-x,\nt-y,\nb\"\nt-2,\n",
			want: []want{{2, tok, true, ""}, {6, tok, true, ""}},
		},
		{
			name: "escaped quotes keep the cell open to the end",
			in:   "token,note\nt-1,\"a \"\"b\"\" c\nt-2,\nt-3,\"\"\n",
			want: []want{{2, none, false, "unclosed quote opened on line 2"}, {3, tok, true, ""}, {4, tok, true, ""}},
		},
		{
			name: "open quotes on several lines: each later line is read once",
			in:   "token\n\"t-1\nt-2\n\"t-3\nt-4\n",
			// Line 4's quote closes line 2's cell, and "t-3 after it
			// is a quoting error: lines 2-4 are one broken record.
			want: []want{{2, none, false, "spanning lines 2-4"}, {5, tok, true, ""}},
		},
		{
			name:      "record longer than the bound is cut and reading resumes",
			in:        "token,note\nt-1,\n,\"" + long + "\"\nt-2,\n",
			maxRecord: 40,
			want:      []want{{2, tok, true, ""}, {3, none, false, "record longer than 40 bytes"}, {4, tok, true, ""}},
		},
		{
			name:      "unclosed quote is cut at the bound",
			in:        "token\n\"t-1\n" + strings.Repeat("t-x\n", 12) + "t-2\n",
			maxRecord: 40,
			// Cut or not, the record of the open quote ends with its
			// line, and the lines after it are read again.
			want: []want{{2, none, false, "unclosed quote opened on line 2"},
				{3, tok, true, ""}, {4, tok, true, ""}, {5, tok, true, ""}, {6, tok, true, ""}, {7, tok, true, ""}, {8, tok, true, ""},
				{9, tok, true, ""}, {10, tok, true, ""}, {11, tok, true, ""}, {12, tok, true, ""}, {13, tok, true, ""}, {14, tok, true, ""},
				{15, tok, true, ""}},
		},
		{
			name:      "lines of a huge quoted cell do not become rows",
			in:        "token,note\nt-1,\n,\"" + strings.Repeat("t-x\n", 12) + "a \"\"b\"\" c\"\nt-2,\n",
			maxRecord: 40,
			want:      []want{{2, tok, true, ""}, {3, none, false, "record spanning lines 3-15 longer than 40 bytes"}, {16, tok, true, ""}},
		},
		{
			name:      "quoting error after the cut ends the record with its line",
			in:        "token,note\n,\"" + long + "\"x\nt-1\n,\"" + long + "\"\r\r\nt-2\n" + long + "\"\nt-3\n",
			maxRecord: 40,
			want: []want{
				{2, none, false, "record longer"}, {3, tok, true, ""},
				{4, none, false, "record longer"}, {5, tok, true, ""},
				{6, none, false, "record longer"}, {7, tok, true, ""},
			},
		},
		{
			name:      "record of exactly the bound at the end of the file",
			in:        "token\n" + strings.Repeat("y", 40),
			maxRecord: 40,
			want:      []want{{2, tok, true, ""}},
		},
		{
			name:      "record of the bound plus its newline",
			in:        "token\n" + strings.Repeat("y", 39) + "\nt-2\n",
			maxRecord: 40,
			want:      []want{{2, tok, true, ""}, {3, tok, true, ""}},
		},
		{
			name:      "record one byte over the bound",
			in:        "token\n" + strings.Repeat("y", 40) + "\nt-2\n",
			maxRecord: 40,
			want:      []want{{2, none, false, "record longer"}, {3, tok, true, ""}},
		},
		{
			name:      "blank lines do not count toward the bound",
			in:        "token\n" + strings.Repeat("\n", 45) + strings.Repeat("\r\n", 45) + "t-1\nt-2\n",
			maxRecord: 40,
			want:      []want{{92, tok, true, ""}, {93, tok, true, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkTable(t, tt.in, CSV, tt.maxRecord, tt.want, tt.wantErr)
		})
	}
}

// TestCSVValues checks what a valid row carries, beyond its shape.
func TestCSVValues(t *testing.T) {
	t.Parallel()
	in := "\ufeffClient_ID, Login_ID ,access_token,TOKEN_TYPE_HINT,x\n" +
		"ck-1, ann@example.com ,,,\n" +
		",,\"t-1\",refresh_token,\n"
	rows, err := readAll(strings.NewReader(in), CSV, MaxRecordLen)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Line: 2, Kind: KindUser, User: "ann@example.com", ConsumerKey: "ck-1"},
		{Line: 3, Kind: KindToken, Token: "t-1", TokenTypeHint: "refresh_token"},
	}
	if !equalRows(rows, want) {
		t.Errorf("got %+v\nwant %+v", rows, want)
	}
}
