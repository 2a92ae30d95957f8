package rfc7009

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Error codes of RFC 6749 §5.2 and RFC 7009 §2.2.1 that change what is done.
const (
	codeInvalidClient = "invalid_client"
	// CodeUnsupportedTokenType: the server cannot revoke this type of
	// token. Sending it again will not help.
	CodeUnsupportedTokenType = "unsupported_token_type"
	// CodeInvalidRequest: the request is malformed. Not retried either.
	CodeInvalidRequest = "invalid_request"
)

const (
	// maxDescription caps what of error_description goes into an outcome.
	maxDescription = 200
	// maxCode caps an error code; real ones are a few words.
	maxCode = 64
)

// requestIDHeaders are where the better-known providers put the ID that
// their support asks for; the first one present is kept per row.
var requestIDHeaders = []string{"X-Request-Id", "X-Okta-Request-Id", "X-Correlation-Id", "Request-Id"}

// APIError is a reply that is not a revocation. It holds no secret.
type APIError struct {
	// Status is the HTTP status of the reply.
	Status int
	// Code is the OAuth error code ("invalid_client", …), "" when the body
	// had none.
	Code string
	// Description is error_description (or an error page's title), trimmed,
	// capped and with any echoed secret replaced by its fingerprint.
	Description string
	// Unexpected is set for a 2xx that carried something other than an
	// empty or JSON body, such as a login portal's page.
	Unexpected bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	switch {
	case e.Fatal():
		code := e.Code
		if code == "" {
			code = fmt.Sprintf("HTTP %d", e.Status)
		}
		fmt.Fprintf(&b, "the revocation endpoint rejected the client credentials (%s)", code)
	default:
		fmt.Fprintf(&b, "the revocation endpoint answered %d", e.Status)
		if text := http.StatusText(e.Status); text != "" {
			b.WriteString(" " + text)
		}
		switch {
		case e.Unexpected:
			b.WriteString(" with an unexpected body, not counted as revoked")
		case e.Status >= 200 && e.Status < 300:
			b.WriteString(" with an error")
		}
		if e.Code != "" {
			b.WriteString(": " + e.Code)
		}
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// Retryable reports whether sending the same request later may succeed:
// throttling and server-side failures (RFC 7009 §2.2.1: after a 503 the
// client assumes the token still exists and retries).
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Fatal reports whether the client's credentials were rejected, so that no
// row can succeed: a 401, or invalid_client under any status below 500.
func (e *APIError) Fatal() bool {
	return e.Status == http.StatusUnauthorized || (e.Code == codeInvalidClient && e.Status < 500)
}

// classify turns a reply into an Answer. RFC 7009 answers 200 whether or
// not the token existed, so a 200 is a revocation unless its body says
// otherwise; no other status ever counts as one.
func classify(status int, header http.Header, body []byte, now time.Time, secrets []string) revoke.Answer {
	rep := parseReply(body)
	apiErr := &APIError{
		Status:      status,
		Code:        endpoint.CleanText(endpoint.Redact(rep.code, secrets), maxCode),
		Description: endpoint.CleanText(endpoint.Redact(rep.description, secrets), maxDescription),
	}
	ans := revoke.Answer{Status: revoke.Failed, HTTPStatus: status, CorrelationID: requestID(header, secrets), Err: apiErr}
	switch {
	case apiErr.Fatal():
		ans.Fatal = true
	case apiErr.Retryable():
		ans.Retry = true
		ans.Throttled = status == http.StatusTooManyRequests
		ans.RetryAfter = endpoint.RetryAfter(header.Get("Retry-After"), now)
	case status >= 200 && status < 300 && rep.unexpected:
		apiErr.Unexpected = true
	case status >= 200 && status < 300 && rep.code == "":
		ans.Status, ans.Err = revoke.Revoked, nil
	}
	return ans
}

// reply is what could be read out of a reply body.
type reply struct {
	code, description string
	// unexpected is set for a non-empty body that is not JSON: an HTML
	// page from a proxy or a login portal is no proof of anything.
	unexpected bool
}

var utf8BOM = []byte("\xef\xbb\xbf")

// parseReply reads RFC 6749 §5.2's {"error":…,"error_description":…} by the
// body's content, not its Content-Type, which proxies get wrong.
func parseReply(body []byte) reply {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	if len(b) == 0 {
		return reply{}
	}
	var doc map[string]json.RawMessage
	if b[0] != '{' || json.Unmarshal(b, &doc) != nil {
		return reply{unexpected: true, description: pageText(b)}
	}
	var rep reply
	if raw, ok := doc["error"]; ok && json.Unmarshal(raw, &rep.code) != nil {
		// Not a string: not RFC 6749's shape, but an error all the same.
		rep.code = "error"
	}
	if raw, ok := doc["error_description"]; ok {
		_ = json.Unmarshal(raw, &rep.description)
	}
	return rep
}

// pageText picks something readable out of a body that is not JSON: an
// HTML page's title, or the start of plain text.
func pageText(b []byte) string {
	// Byte-wise ASCII lowering keeps the indexes valid in b: bytes.ToLower
	// rewrites invalid UTF-8 and so changes lengths.
	lower := make([]byte, min(len(b), 4096))
	for i := range lower {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	if i := bytes.Index(lower, []byte("<title")); i >= 0 {
		if j := bytes.IndexByte(lower[i:], '>'); j >= 0 {
			start := i + j + 1
			if end := bytes.Index(lower[start:], []byte("</title")); end >= 0 {
				return string(b[start : start+end])
			}
		}
	}
	if b[0] == '<' {
		return ""
	}
	return string(b[:min(len(b), 4*maxDescription)])
}

// requestID returns the provider's request ID for support, or "".
func requestID(h http.Header, secrets []string) string {
	for _, name := range requestIDHeaders {
		if id := endpoint.CleanID(h.Get(name), secrets); id != "" {
			return id
		}
	}
	return ""
}
