package concur

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
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
	// Message is Concur's message (or an error page's title, or the body
	// itself), with every echoed secret and every piece of one replaced by
	// its fingerprint, then trimmed and capped.
	Message string
	// CorrelationID is Concur's request ID, for support.
	CorrelationID string
	// Unrecognised is set for an answer on neither list: not a success
	// shape, not a statement that the target is gone, nor a status with a
	// meaning of its own (401, 403, 429, 5xx, Concur's throttle message).
	Unrecognised bool
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
		switch {
		case e.Unrecognised:
			b.WriteString(": " + revoke.Unrecognised)
		case e.Status >= 200 && e.Status < 300:
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
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || (!e.Unrecognised && isThrottle(e.Message))
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

// successShapes is every body that counts as a revocation when the status
// is 2xx, after a UTF-8 BOM and surrounding whitespace are dropped; nothing
// else does. Concur documents the answer as "None"; its own SDK reads an
// empty body as {} and accepts only that. The README's answer table lists
// the same shapes: keep them together.
var successShapes = []struct {
	name  string
	match func(b []byte) bool
}{
	{"an empty body (whitespace only)", func(b []byte) bool { return len(b) == 0 }},
	{"an empty JSON object {}", isEmptyObject},
}

// isEmptyObject reports whether b is {} with only whitespace inside.
func isEmptyObject(b []byte) bool {
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// classify turns a reply into an Answer. It is the contract with Concur, so
// the order matters: the admin-token statuses come before any reading of the
// message (a 403 "token has expired" may be about the admin token, never
// proof that the row's token is gone);
// then throttling and server failures, which are retried; then the two
// allow-lists: a 2xx whose body is a success shape is revoked, Concur's
// Error saying the row's target is gone is not_found. Everything else is
// failed, as an unrecognised answer. A body longer than the read limit is
// never read as either: it was not seen whole.
func classify(status int, header http.Header, body []byte, kind input.Kind, now time.Time, secrets []string) revoke.Answer {
	overlong := endpoint.Overlong(body)
	if overlong {
		body = body[:endpoint.MaxBody]
	}
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
		msg = endpoint.ServerText(rep.message, secrets, maxMessage)
	}
	apiErr := &APIError{Status: status, Message: msg, CorrelationID: ans.CorrelationID}
	retryLater := func(throttled bool) revoke.Answer {
		ans.Retry, ans.Throttled = true, throttled
		ans.RetryAfter = endpoint.RetryAfter(header.Get("Retry-After"), now)
		ans.Err = apiErr
		return ans
	}
	ok2xx := status >= 200 && status < 300

	switch {
	case status == http.StatusUnauthorized:
		ans.Fatal, ans.Err = true, apiErr
	case status == http.StatusForbidden:
		ans.Suspect, ans.Err = true, apiErr
	case status == http.StatusTooManyRequests:
		return retryLater(true)
	case status >= 500:
		return retryLater(isThrottle(msg))
	case (status == http.StatusBadRequest || ok2xx && rep.concur) && isThrottle(msg):
		// Concur documents a 400 for "exceed the request limit".
		return retryLater(true)
	case overlong:
		apiErr.Unrecognised = true
		apiErr.Message = endpoint.CleanText(fmt.Sprintf("reply longer than %d bytes, not read whole: %s", endpoint.MaxBody, msg), maxMessage)
		ans.Err = apiErr
	case ok2xx && rep.success:
		ans.Status = revoke.Revoked
	case rep.concur && (ok2xx || status >= 400) && isGone(msg, kind):
		ans.Status, ans.Err = revoke.NotFound, apiErr
	default:
		apiErr.Unrecognised = true
		ans.Err = apiErr
	}
	return ans
}

// reply is what could be read out of a reply body.
type reply struct {
	// success is set when the body is one of successShapes.
	success bool
	// concur is set when the body is Concur's documented Error and nothing
	// else: <Error><Message>…</Message><Server-Time>…</Server-Time><Id>…</Id></Error>
	// as the only element at the top, or {"Error":{"Message":…}} as the
	// only key. Only such a body is read for what it says.
	concur bool
	// message is Concur's message, or, for any other body, what best
	// tells a person what came: a page's title, a message element, or the
	// body itself.
	message string
	id      string
}

var utf8BOM = []byte("\xef\xbb\xbf")

// parseReply reads a body by its content, not its Content-Type: proxies and
// IIS error pages lie about the latter.
func parseReply(body []byte) reply {
	b := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	for _, shape := range successShapes {
		if shape.match(b) {
			return reply{success: true}
		}
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
	if !ok {
		rep = reply{message: describe(b)}
	}
	return rep
}

// parseJSON reads {"Error":{"Message":…,"Server-Time":…,"Id":…}}, and
// nothing else: another key anywhere is another API's shape.
func parseJSON(b []byte) (reply, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || len(doc) != 1 {
		return reply{}, false
	}
	raw, found := doc["Error"]
	var fields map[string]json.RawMessage
	if !found || json.Unmarshal(raw, &fields) != nil || fields == nil {
		return reply{}, false
	}
	var rep reply
	for k, v := range fields {
		var dst *string
		switch k {
		case "Message":
			dst = &rep.message
		case "Id":
			dst = &rep.id
		case "Server-Time":
			dst = new(string)
		default:
			return reply{}, false
		}
		if json.Unmarshal(v, dst) != nil {
			return reply{}, false
		}
	}
	rep.concur = true
	return rep, true
}

// parseXML reads <Error><Message>…</Message><Server-Time>…</Server-Time><Id>…</Id></Error>
// as the whole document (an XML declaration, comments and blanks around it
// allowed), and nothing else: another root, another child or a second
// document is another API's shape, or a page.
func parseXML(b []byte) (reply, bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	// The messages are ASCII in practice; reading any declared charset as
	// is beats refusing the whole body.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		rep  reply
		root bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return rep, root
		}
		if err != nil {
			return reply{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root || t.Name.Local != "Error" || t.Name.Space != "" {
				return reply{}, false
			}
			var e struct {
				Message    []string `xml:"Message"`
				ID         []string `xml:"Id"`
				ServerTime []string `xml:"Server-Time"`
				Other      []struct {
					XMLName xml.Name
				} `xml:",any"`
			}
			if d.DecodeElement(&e, &t) != nil || len(e.Other) > 0 || len(e.Message) > 1 || len(e.ID) > 1 || len(e.ServerTime) > 1 {
				return reply{}, false
			}
			root, rep.concur = true, true
			if len(e.Message) == 1 {
				rep.message = e.Message[0]
			}
			if len(e.ID) == 1 {
				rep.id = e.ID[0]
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return reply{}, false
			}
		case xml.Directive:
			// A DOCTYPE: a page's, never Concur's.
			return reply{}, false
		}
	}
}

// describe picks what tells a person what a body that is not Concur's
// answer holds: an HTML page's title, a message or SOAP faultstring
// element, or else the body itself. The caller redacts the whole of it
// before cutting it.
func describe(b []byte) string {
	for _, tag := range []string{"title", "Message", "faultstring"} {
		if m := strings.TrimSpace(tagText(b, tag)); m != "" {
			return m
		}
	}
	return string(b)
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

// goneStatements are the messages (lower case, whitespace collapsed, a
// final full stop dropped) that say the row's target is gone: for a token
// row, that the token is invalid, unknown, expired or already revoked; for
// a user row, that the user has no tokens or does not exist. The whole
// message must be one of them: "token could not be revoked", "invalid
// consumerKey" and "invalid parameter: token" are not. "OAuth token" is
// not on the list: that is how Concur names the administrator's token.
var goneStatements = map[input.Kind]*regexp.Regexp{
	input.KindToken: regexp.MustCompile(`^(?:` +
		`(?:invalid|unknown|expired|revoked|already revoked) (?:access |refresh |bearer )?token` +
		`|(?:(?:the|this|that|given|provided|supplied|specified) )?(?:access |refresh |bearer )?token` +
		`(?: (?:is|was|has|has been|had been|have been))?(?: already)?(?: been)?` +
		` (?:invalid|unknown|expired|revoked|not valid|no longer valid|not found|does not exist|not recogni[sz]ed)` +
		`(?: or (?:has )?(?:been )?(?:invalid|unknown|expired|revoked))?` +
		`|no such (?:access |refresh |bearer )?token` +
		`)$`),
	input.KindUser: regexp.MustCompile(`^(?:` +
		`no (?:access )?tokens? (?:(?:was|were) )?found(?: for (?:the |this )?user)?` +
		`|(?:(?:the|this) )?user has no (?:access )?tokens?(?: to revoke)?` +
		`|unknown user` +
		`|(?:(?:the|this) )?user (?:is unknown|was not found|not found|does not exist)` +
		`)$`),
}

var (
	// goneNegations are the statements' own negative phrases, cut out
	// before negations are looked for.
	goneNegations = strings.NewReplacer("not found", "", "does not exist", "", "no longer valid", "", "not valid", "",
		"not recognised", "", "not recognized", "", "no such", "", "no access token", "", "no token", "", "has no", "")
	// negation rules a message out whatever else it says: "could not",
	// "cannot", "unable", "failed", "was not", "not revoked"…
	negation = regexp.MustCompile(`\b(?:not|no|never|cannot|can't|couldn't|wasn't|isn't|aren't|won't|didn't|doesn't|unable|fail|fails|failed|failure|unsuccessful|error)\b`)
	// aboutSomethingElse rules a message out as being about the request,
	// the application, the company or the credentials rather than the
	// target: a wrong consumer key leaves every token of the user alive.
	aboutSomethingElse = regexp.MustCompile(`consumer|client|applica|\bapp\b|compan|credential|\bkey\b|secret|admin|oauth|authori|role|permission|scope|request|parameter|argument|header|format|method`)
)

// isGone reports whether msg positively says that the row's target is
// gone: one of goneStatements for its kind, with no negation outside the
// statement's own words and nothing about anything but the target.
func isGone(msg string, kind input.Kind) bool {
	m := strings.TrimRight(strings.Join(strings.Fields(strings.ToLower(msg)), " "), ".!")
	re := goneStatements[kind]
	return re != nil && re.MatchString(m) &&
		!negation.MatchString(goneNegations.Replace(m)) && !aboutSomethingElse.MatchString(m)
}
