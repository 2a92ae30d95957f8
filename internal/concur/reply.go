package concur

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	// maxMessage caps what of Concur's message goes into an outcome row.
	maxMessage = 200
	// MaxRetryAfter caps the server's Retry-After: a bogus "retry in a
	// day" must not park a worker through an incident.
	MaxRetryAfter = endpoint.MaxRetryAfter
)

// APIError is a reply that Concur classified as not a revocation: an Error
// body, or a status that is not 2xx. It holds no secret.
type APIError struct {
	// Status is the HTTP status of the reply.
	Status int
	// Message is Concur's message (or an error page's title), trimmed,
	// capped and with any echoed secret replaced by its fingerprint.
	Message string
	// CorrelationID is Concur's request ID, for support.
	CorrelationID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString("Concur rejected the administrator token (401): missing or not accepted")
	default:
		fmt.Fprintf(&b, "Concur answered %d", e.Status)
		if text := http.StatusText(e.Status); text != "" {
			b.WriteString(" " + text)
		}
		if e.Status >= 200 && e.Status < 300 {
			b.WriteString(" with an error")
		}
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Retryable reports whether sending the same request later may succeed:
// throttling and server-side failures.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || isThrottle(e.Message)
}

// Fatal reports whether the administrator's credentials were rejected, so
// that no row can succeed.
func (e *APIError) Fatal() bool {
	return e.Status == http.StatusUnauthorized
}

// Suspect reports whether the reply may be about the administrator's
// credentials or about the row alone: Concur documents 403 for an admin
// token that expired, was revoked or lacks the role, and may answer it
// for one row's token too. The pool tells the two apart (see Probe).
func (e *APIError) Suspect() bool {
	return e.Status == http.StatusForbidden
}

// classify turns a reply into an Answer. It is the contract with Concur, so
// the order matters: the admin-token statuses come before any reading of the
// message (a 403 "token has expired" may be about the admin token, never
// proof that the row's token is gone),
// and no reply that carries an Error is ever counted as a revocation.
func classify(status int, header http.Header, body []byte, now time.Time, secrets []string) revoke.Answer {
	rep := parseReply(body)
	ans := revoke.Answer{
		Status:        revoke.Failed,
		HTTPStatus:    status,
		CorrelationID: endpoint.CleanID(header.Get(CorrelationHeader), secrets),
	}
	if ans.CorrelationID == "" {
		ans.CorrelationID = endpoint.CleanID(rep.id, secrets)
	}
	var msg string
	if rep.message != "" {
		// Redacting hashes every secret: not for the empty body that
		// answers every revocation.
		msg = endpoint.CleanText(endpoint.Redact(rep.message, secrets), maxMessage)
	}
	apiErr := &APIError{Status: status, Message: msg, CorrelationID: ans.CorrelationID}
	retryLater := func(throttled bool) revoke.Answer {
		ans.Retry, ans.Throttled = true, throttled
		ans.RetryAfter = endpoint.RetryAfter(header.Get("Retry-After"), now)
		ans.Err = apiErr
		return ans
	}

	switch {
	case status == http.StatusUnauthorized:
		ans.Fatal, ans.Err = true, apiErr
	case status == http.StatusForbidden:
		ans.Suspect, ans.Err = true, apiErr
	case status == http.StatusTooManyRequests:
		return retryLater(true)
	case status >= 500:
		return retryLater(isThrottle(msg))
	case rep.hasError:
		switch {
		case isThrottle(msg):
			return retryLater(true)
		case isGone(msg):
			ans.Status, ans.Err = revoke.NotFound, apiErr
		default:
			ans.Err = apiErr
		}
	case status >= 200 && status < 300 && rep.unexpected:
		// Concur answers a revocation with an empty body; a page from
		// something in between is not proof that anything was revoked.
		apiErr.Message = endpoint.CleanText("unexpected reply, not counted as revoked: "+msg, maxMessage)
		ans.Err = apiErr
	case status >= 200 && status < 300:
		ans.Status = revoke.Revoked
	case status == http.StatusBadRequest && isThrottle(msg):
		return retryLater(true)
	default:
		ans.Err = apiErr
	}
	return ans
}

// reply is what could be read out of a reply body.
type reply struct {
	// hasError is set when the body carries an Error element, or looks as
	// if it does without being parseable.
	hasError bool
	// unexpected is set for a non-empty body that is neither Concur's XML
	// nor JSON: an HTML page, say, from a proxy or a login portal.
	unexpected bool
	message    string
	id         string
}

var utf8BOM = []byte("\xef\xbb\xbf")

// parseReply reads a body by its content, not its Content-Type: proxies and
// IIS error pages lie about the latter.
func parseReply(body []byte) reply {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	if len(b) == 0 {
		return reply{}
	}
	var (
		rep reply
		ok  bool
	)
	switch b[0] {
	case '{':
		rep, ok = parseJSON(b)
	case '<':
		rep, ok = parseXML(b)
	}
	// Whatever parsed or not, a body that mentions an Error element is never
	// read as success: a surprise must not be counted as a revocation.
	if bytes.Contains(b, []byte("<Error")) || bytes.Contains(b, []byte(`"Error"`)) {
		rep.hasError = true
	}
	if !ok && rep.message == "" {
		rep.message = textMessage(b)
	}
	rep.unexpected = rep.unexpected || !ok || isHTML(b)
	return rep
}

// parseJSON reads {"Error":{"Message":…,"Id":…}}, and also the looser
// {"Error":"…"} and a top-level {"Message":…} that other stacks send.
func parseJSON(b []byte) (reply, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return reply{}, false
	}
	var rep reply
	for k, raw := range doc {
		switch {
		case strings.EqualFold(k, "Error"):
			var e struct {
				Message string
				ID      string `json:"Id"`
			}
			var s string
			switch {
			case json.Unmarshal(raw, &e) == nil:
				rep.hasError, rep.message, rep.id = true, e.Message, e.ID
			case json.Unmarshal(raw, &s) == nil:
				rep.hasError, rep.message = true, s
			case !bytes.Equal(bytes.TrimSpace(raw), []byte("null")):
				rep.hasError = true
			}
		case strings.EqualFold(k, "Message") && rep.message == "":
			_ = json.Unmarshal(raw, &rep.message)
		}
	}
	return rep, true
}

// parseXML finds the first Error element at any depth, so that a wrapped
// error is found too. An XHTML error page parses as well; its title then
// serves as the message.
func parseXML(b []byte) (reply, bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	// The messages are ASCII in practice; reading any declared charset as
	// is beats refusing the whole body.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			// An XHTML page is well-formed XML, but a page, not a reply.
			return reply{message: tagText(b, "title"), unexpected: strings.EqualFold(root, "html")}, true
		}
		if err != nil {
			return reply{}, false
		}
		se, ok := tok.(xml.StartElement)
		if ok && root == "" {
			root = se.Name.Local
		}
		if !ok || !strings.EqualFold(se.Name.Local, "Error") {
			continue
		}
		var e struct {
			Message string `xml:"Message"`
			ID      string `xml:"Id"`
		}
		if err := d.DecodeElement(&e, &se); err != nil {
			return reply{hasError: true, message: tagText(b, "Message")}, true
		}
		return reply{hasError: true, message: e.Message, id: e.ID}, true
	}
}

// textMessage picks a message out of a body that did not parse: Concur's
// Message element, an HTML page's title, or the text itself.
func textMessage(b []byte) string {
	if m := tagText(b, "Message"); m != "" {
		return m
	}
	if m := tagText(b, "title"); m != "" {
		return m
	}
	if b[0] == '<' {
		return ""
	}
	return string(b[:min(len(b), 4*maxMessage)])
}

// tagText returns the text between the first <tag …> and </tag>, case
// insensitively, or "".
func tagText(b []byte, tag string) string {
	// Byte-wise ASCII lowering keeps the indexes valid in b: bytes.ToLower
	// rewrites invalid UTF-8 and so changes lengths.
	lower := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
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

// isThrottle reports whether a message says "slow down". Concur documents a
// 400 for "number of requests received exceed the request limit".
func isThrottle(msg string) bool {
	m := strings.ToLower(msg)
	for _, p := range []string{"request limit", "rate limit", "too many requests", "throttl"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// isGone reports whether a message says there is nothing left to revoke:
// the token or user is unknown, invalid, expired or already revoked. A
// message about the request itself ("invalid parameter", "required
// parameter not found") is not about the target, and a bare "unknown error"
// is not either.
func isGone(msg string) bool {
	m := strings.ToLower(msg)
	for _, p := range []string{"request", "parameter", "argument", "header", "format", "method"} {
		if strings.Contains(m, p) {
			return false
		}
	}
	for _, p := range []string{
		"invalid", "not valid", "not found", "does not exist", "no such", "expired", "revoked",
		"is unknown", "unknown token", "unknown access token", "unknown user", "unknown consumer", "unknown client",
	} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// isHTML reports whether a body is an HTML page.
func isHTML(b []byte) bool {
	// Not only at the start: XHTML opens with an XML declaration, and a
	// page may open with a comment.
	return bytes.Contains(bytes.ToLower(b[:min(len(b), 512)]), []byte("<html"))
}
