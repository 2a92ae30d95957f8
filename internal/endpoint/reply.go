package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// The reply plumbing every provider shares: how a body is trimmed before it
// is matched against the provider's success shapes, how a page that is not
// the provider's answer is described, and how a request that got no usable
// reply is classified.

var utf8BOM = []byte("\xef\xbb\xbf")

// blanks is the whitespace a success shape may hold: JSON's and HTTP's
// (space, tab, CR, LF), and nothing of Unicode's (U+00A0, U+2028, U+3000…),
// which no server writes for "nothing" and which bytes.TrimSpace would drop.
const blanks = " \t\r\n"

// TrimBody drops a UTF-8 BOM and the surrounding ASCII whitespace (space,
// tab, CR, LF), before a body is matched against a provider's success
// shapes.
func TrimBody(body []byte) []byte {
	return bytes.Trim(bytes.TrimPrefix(body, utf8BOM), blanks)
}

// IsEmptyObject reports whether b is {} with only ASCII whitespace (space,
// tab, CR, LF) inside.
func IsEmptyObject(b []byte) bool {
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && len(bytes.Trim(b[1:len(b)-1], blanks)) == 0
}

// SuccessStatus reports whether an HTTP status can carry a revocation: 200
// (RFC 7009 §2.2; Concur's documented answer) or 204 No Content. No other
// 2xx does: 202 Accepted says the work is not done, 206 Partial Content
// that the body is not whole, and an unregistered 2xx (299) means nothing
// agreed.
func SuccessStatus(status int) bool {
	return status == 200 || status == 204
}

// PageText picks what tells a person what a body that is not the
// provider's answer holds: the text of the first of tags that holds any
// (an HTML page's title, a message element), trimmed, or else the body
// itself. The caller redacts the whole of it before cutting it
// (ServerText).
func PageText(b []byte, tags ...string) string {
	if len(tags) == 0 {
		return string(b)
	}
	// Byte-wise ASCII lowering keeps the indexes valid in b: bytes.ToLower
	// rewrites invalid UTF-8 and so changes lengths. Once for every tag:
	// the body may be a 64 KiB error page.
	lower := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for _, tag := range tags {
		if m := strings.TrimSpace(tagText(b, lower, tag)); m != "" {
			return m
		}
	}
	return string(b)
}

// tagText returns the text between the first <tag …> and </tag> of b, case
// insensitively (lower is b in ASCII lower case), or "".
func tagText(b, lower []byte, tag string) string {
	open := bytes.Index(lower, []byte("<"+strings.ToLower(tag)))
	if open < 0 {
		return ""
	}
	start := bytes.IndexByte(lower[open:], '>')
	if start < 0 {
		return ""
	}
	start += open + 1
	end := bytes.Index(lower[start:], []byte("</"+strings.ToLower(tag)))
	if end < 0 {
		return ""
	}
	return string(b[start : start+end])
}

// NoReply classifies a request that got no usable reply (doing says what
// failed: "send revocation request"). The caller's own cancellation is
// final, so that a stopping run stops; so is a TLS certificate that cannot
// be verified, which no retry changes. Anything else (refused connection,
// reset, our own timeout, after which the token must be assumed alive) may
// be retried. timeout is the client's per-request bound, for the message.
func NoReply(ctx context.Context, status int, id, doing string, err error, timeout time.Duration, secrets []string) revoke.Answer {
	ans := revoke.Answer{Status: revoke.Failed, HTTPStatus: status, CorrelationID: id}
	if ctxErr := ctx.Err(); ctxErr != nil {
		ans.Err = fmt.Errorf("%s: abandoned: %w", doing, ctxErr)
		return ans
	}
	err = WithoutURL(err)
	if certErr := CertificateError(err); certErr != nil {
		// Every request would fail the same way: stop, do not retry.
		ans.Fatal, ans.Err = true, Scrub(fmt.Errorf("%s: %w", doing, certErr), secrets)
		return ans
	}
	ans.Unreachable = Unreachable(err)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no reply within %s: %w", timeout, err)
	}
	ans.Retry, ans.Err = true, Scrub(fmt.Errorf("%s: %w", doing, err), secrets)
	return ans
}
