package rfc7009

import (
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
	// Unrecognised is set for an answer on neither list: not a success
	// shape, nor a status with a meaning of its own (401 and
	// invalid_client, 429, 5xx).
	Unrecognised bool
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
		if e.Unrecognised {
			b.WriteString(": " + revoke.Unrecognised)
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

// successShapes is every body that counts as a revocation when the status
// is 200 or 204, after a UTF-8 BOM and surrounding ASCII whitespace are
// dropped (endpoint.TrimBody); nothing
// else does. RFC 7009 §2.2 answers 200 with no body; some servers send an
// empty JSON object. A body that shows failure ({"success":false},
// {"error":…}, a page) is no revocation, whatever the status. docs/ANSWERS.md's
// answer table lists the same shapes: keep them together.
var successShapes = []struct {
	name  string
	match func(b []byte) bool
}{
	{"an empty body (ASCII whitespace only: space, tab, CR, LF)", func(b []byte) bool { return len(b) == 0 }},
	{"an empty JSON object {}", endpoint.IsEmptyObject},
}

// classify turns a reply into an Answer. The client's credentials come
// first (401, invalid_client), then throttling and server failures, which
// are retried; then the allow-list: a 200 or 204 (endpoint.SuccessStatus)
// whose body is a success shape is a revocation (RFC 7009 answers 200 whether or not the token existed).
// Everything else is failed, as an unrecognised answer, and so is a body
// longer than the read limit: it was not seen whole.
func classify(status int, header http.Header, body []byte, now time.Time, secrets []string) revoke.Answer {
	overlong := endpoint.Overlong(body)
	if overlong {
		body = body[:endpoint.MaxBody]
	}
	rep := parseReply(body)
	apiErr := &APIError{
		Status:      status,
		Code:        endpoint.ServerText(rep.code, secrets, maxCode),
		Description: endpoint.ServerText(rep.description, secrets, maxDescription),
	}
	ans := revoke.Answer{Status: revoke.Failed, HTTPStatus: status, CorrelationID: requestID(header, secrets), Err: apiErr}
	switch {
	case apiErr.Fatal():
		ans.Fatal = true
	case apiErr.Retryable():
		ans.Retry = true
		ans.Throttled = status == http.StatusTooManyRequests
		ans.RetryAfter = endpoint.RetryAfter(header.Get("Retry-After"), now)
	case overlong:
		apiErr.Unrecognised = true
		apiErr.Description = endpoint.CleanText(fmt.Sprintf("reply longer than %d bytes, not read whole: %s", endpoint.MaxBody, apiErr.Description), maxDescription)
	case endpoint.SuccessStatus(status) && rep.success:
		ans.Status, ans.Err = revoke.Revoked, nil
	default:
		apiErr.Unrecognised = true
	}
	return ans
}

// reply is what could be read out of a reply body.
type reply struct {
	// success is set when the body is one of successShapes.
	success bool
	// code and description are RFC 6749 §5.2's error and
	// error_description; for any other body, description is what best
	// tells a person what came: a page's title, or the body itself.
	code, description string
}

// parseReply reads a body by its content, not its Content-Type, which
// proxies get wrong.
func parseReply(body []byte) reply {
	b := endpoint.TrimBody(body)
	for _, shape := range successShapes {
		if shape.match(b) {
			return reply{success: true}
		}
	}
	var doc map[string]json.RawMessage
	if b[0] != '{' || json.Unmarshal(b, &doc) != nil {
		return reply{description: endpoint.PageText(b, "title")}
	}
	var rep reply
	if raw, ok := doc["error"]; ok && json.Unmarshal(raw, &rep.code) != nil {
		// Not a string: not RFC 6749's shape, but an error all the same.
		rep.code = "error"
	}
	if raw, ok := doc["error_description"]; ok {
		_ = json.Unmarshal(raw, &rep.description)
	}
	if rep.code == "" && rep.description == "" {
		// Another API's shape ({"success":false,…}): show it as it came.
		rep.description = string(b)
	}
	return rep
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
