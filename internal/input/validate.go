package input

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// field is one of the columns (CSV) or keys (JSONL) the reader understands.
type field int

const (
	noField field = iota
	fieldToken
	fieldUser
	fieldConsumerKey
	fieldTokenTypeHint
	numFields
)

// fieldNames are the canonical names, used in reasons and messages.
var fieldNames = [numFields]string{
	fieldToken:         "token",
	fieldUser:          "user",
	fieldConsumerKey:   "consumerKey",
	fieldTokenTypeHint: "token_type_hint",
}

// aliases maps every built-in name to its field. Names are matched as
// sameName says, so each stands for all its spellings: "login_id" is also
// "Login ID", "LOGIN-ID" and "LoginId". Concur's own page calls the consumer
// key client_id; identity tools and HR exports say login_id, email address
// or access_token; all of them are accepted in both formats. A column flag
// (Options) replaces a field's names.
var aliases = []struct {
	name  string
	field field
}{
	{"token", fieldToken},
	{"access_token", fieldToken},
	{"user", fieldUser},
	{"login_id", fieldUser},
	{"user_login_id", fieldUser},
	{"login", fieldUser},
	{"email_address", fieldUser},
	{"email", fieldUser},
	{"consumerKey", fieldConsumerKey},
	{"client_id", fieldConsumerKey},
	{"token_type_hint", fieldTokenTypeHint},
}

func trimName(b []byte) []byte {
	for {
		switch {
		case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
			b = b[3:]
		case len(b) > 0 && isNameSpace(b[0]):
			b = b[1:]
		case len(b) > 0 && isNameSpace(b[len(b)-1]):
			b = b[:len(b)-1]
		default:
			return b
		}
	}
}

func isNameSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// trimValue removes the spaces and tabs that spreadsheets and hand edits
// leave around values; anything else (a newline inside a quoted cell) is kept
// and then refused by validation, because it is a sign of a damaged file.
func trimValue(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// MaxTokenLen bounds a token. Real access tokens, JWTs included, stay far
// below it; anything longer is a damaged cell, not a token.
const MaxTokenLen = 4096

// Reasons a row is invalid. None of them quotes a value: a reason ends up in
// the outcome file and logs, and the value may be a secret.
const (
	reasonNoTarget      = "no token and no user given"
	reasonBothKinds     = "both a token and a user/consumerKey given: a row revokes one or the other"
	reasonUserNoKey     = "user given without consumerKey"
	reasonKeyNoUser     = "consumerKey given without user"
	reasonTokenTooLong  = "token longer than 4096 bytes"
	reasonTokenBadBytes = "token contains a space, a control character or a non-ASCII byte"
	reasonBadHint       = "token_type_hint is neither access_token nor refresh_token"
)

// The token type hints of RFC 7009 §2.1. The values are case-sensitive there,
// and a server may ignore a hint it does not know, so a misspelt one would
// be silently lost: it is refused instead.
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// check decides the row's Kind from the values present and sets Invalid to
// the first rule the row breaks. Kind stays set on an invalid row whenever
// the intent is clear, so the outcome file can still say what was meant.
func check(r *Row) {
	hasUser := r.User != "" || r.ConsumerKey != ""
	switch {
	case r.Token == "" && !hasUser:
		r.Invalid = reasonNoTarget
		return
	case r.Token != "" && hasUser:
		r.Invalid = reasonBothKinds
		return
	case r.Token != "":
		r.Kind = KindToken
	default:
		r.Kind = KindUser
	}
	if reason := checkText(fieldNames[fieldTokenTypeHint], r.TokenTypeHint); reason != "" {
		r.Invalid = reason
		return
	}
	switch r.TokenTypeHint {
	case "", HintAccessToken, HintRefreshToken:
	default:
		r.Invalid = reasonBadHint
		return
	}
	if r.Kind == KindToken {
		r.Invalid = checkToken(r.Token)
		return
	}
	switch {
	case r.ConsumerKey == "":
		r.Invalid = reasonUserNoKey
	case r.User == "":
		r.Invalid = reasonKeyNoUser
	default:
		r.Invalid = checkText(fieldNames[fieldUser], r.User)
		if r.Invalid == "" {
			r.Invalid = checkText(fieldNames[fieldConsumerKey], r.ConsumerKey)
		}
	}
}

// checkToken allows only printable ASCII without spaces: a token goes into a
// query string, and anything else means the cell is not a token. The reason
// says which rule the token breaks, never what it holds.
func checkToken(t string) string {
	if len(t) > MaxTokenLen {
		return reasonTokenTooLong
	}
	for i := range len(t) {
		switch c := t[i]; {
		case c == ' ':
			return reasonTokenBadBytes + ": a space"
		case c < 0x20 || c == 0x7F:
			return fmt.Sprintf("%s: control character U+%04X", reasonTokenBadBytes, c)
		case c > 0x7E:
			if !utf8.ValidString(t) {
				return reasonTokenBadBytes + ": invalid UTF-8"
			}
			r, _ := utf8.DecodeRuneInString(t[i:])
			return fmt.Sprintf("%s: non-ASCII character U+%04X", reasonTokenBadBytes, r)
		}
	}
	return ""
}

// checkText refuses, in a login ID or a consumer key, what no real one
// holds: invalid UTF-8; U+FFFD, the mark of a value damaged before it got
// here (and what a lone JSON surrogate escape such as "\ud800" decodes to);
// control characters (C0 with NUL, DEL, C1); and invisible format characters
// (bidi controls such as U+202E, which make a login ID display as another,
// zero-width characters, a byte order mark), line and paragraph separators,
// and noncharacters. Any of them would send a request, or write an outcome
// row, for a target nobody meant. The reason names the code point, which is
// not a secret, and never the value.
func checkText(name, s string) string {
	if !utf8.ValidString(s) {
		return name + " is not valid UTF-8"
	}
	for _, c := range s {
		if what := impossibleRune(c); what != "" {
			reason := fmt.Sprintf("%s contains %s (U+%04X)", name, what, c)
			if c == utf8.RuneError {
				reason += ": the value was damaged before it got here, or is a lone JSON surrogate escape"
			}
			return reason
		}
	}
	return ""
}

// impossibleRune says what c is when it has no place in a login ID or a
// consumer key, and "" when it may appear there.
func impossibleRune(c rune) string {
	if c < utf8.RuneSelf {
		// Most values are ASCII: spare them the table lookups.
		if c < 0x20 || c == 0x7F {
			return "a control character"
		}
		return ""
	}
	switch {
	case c == utf8.RuneError:
		return "the replacement character"
	case unicode.IsControl(c):
		return "a control character"
	case unicode.Is(unicode.Bidi_Control, c):
		return "a bidi control character"
	case unicode.Is(unicode.Cf, c):
		return "an invisible format character"
	case unicode.Is(unicode.Zl, c) || unicode.Is(unicode.Zp, c):
		return "a line or paragraph separator"
	case unicode.Is(unicode.Noncharacter_Code_Point, c):
		return "a noncharacter"
	}
	return ""
}
