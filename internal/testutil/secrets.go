package testutil

import (
	"encoding/json"
	"encoding/xml"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
)

// LongSecret returns a secret of n printable characters, the same for the
// same seed: a JWT's characters, and some that escaping changes ("+/=~").
// Concur's tokens are JWTs of about 1 KB; redaction must hold at that size.
func LongSecret(seed uint64, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=~"
	r := rand.New(rand.NewPCG(seed, 11))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// SecretPiece returns a run of size characters of one of secrets, in any
// form a server, an encoder or a logger may write it in (raw, query or path
// escaped, HTML or XML escaped, JSON with or without an escaped solidus), that text
// holds, or "" when it holds none.
func SecretPiece(text string, size int, secrets ...string) string {
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		var x strings.Builder
		_ = xml.EscapeText(&x, []byte(s))
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s), x.String(),
			strings.ReplaceAll(s, "/", `\/`), strings.Trim(string(j), `"`)} {
			for i := 0; i+size <= len(form); i++ {
				if w := form[i : i+size]; strings.Contains(text, w) {
					return w
				}
			}
		}
	}
	return ""
}
