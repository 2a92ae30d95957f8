package input

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTokenTypeHint checks that only RFC 7009's two hints pass, in both
// formats, and that a refused hint is never quoted: a shifted CSV cell can
// put a token where the hint should be.
func TestTokenTypeHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		hint        string
		wantInvalid string
	}{
		{"absent", "", ""},
		{"access token", "access_token", ""},
		{"refresh token", "refresh_token", ""},
		{"surrounding spaces trimmed", "  refresh_token\t", ""},
		{"unknown hint", "id_token", reasonBadHint},
		{"wrong case", "Access_Token", reasonBadHint},
		{"a token in the hint column", "eyJhbGciOiJSUzI1NiJ9.secret-looking", reasonBadHint},
		{"control character", "access\x01token", "token_type_hint contains a control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hint, _ := json.Marshal(tt.hint)
			inputs := map[Format]string{
				CSV:   "token,token_type_hint\ntok-1,\"" + tt.hint + "\"\n",
				JSONL: `{"token":"tok-1","token_type_hint":` + string(hint) + "}\n",
			}
			for f, in := range inputs {
				rows, err := readAll(strings.NewReader(in), f, MaxRecordLen)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if len(rows) != 1 {
					t.Fatalf("%s: %d rows, want 1", f, len(rows))
				}
				r := rows[0]
				if (tt.wantInvalid == "") != (r.Invalid == "") || !strings.HasPrefix(r.Invalid, tt.wantInvalid) {
					t.Errorf("%s: Invalid = %q, want %q", f, r.Invalid, tt.wantInvalid)
				}
				if r.Kind != KindToken {
					t.Errorf("%s: Kind = %q, want token even when invalid", f, r.Kind)
				}
				if tt.hint != "" && tt.wantInvalid != "" && strings.Contains(r.Invalid, strings.TrimSpace(tt.hint)) {
					t.Errorf("%s: reason %q quotes the value", f, r.Invalid)
				}
				if tt.wantInvalid == "" && r.TokenTypeHint != strings.TrimSpace(tt.hint) {
					t.Errorf("%s: hint %q, want %q", f, r.TokenTypeHint, strings.TrimSpace(tt.hint))
				}
			}
		})
	}
}
