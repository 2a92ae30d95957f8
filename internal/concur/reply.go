package concur

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

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
// is 200 or 204, after a UTF-8 BOM and surrounding ASCII whitespace are
// dropped (endpoint.TrimBody); nothing
// else does. Concur documents the answer as "None"; its own SDK reads an
// empty body as {} and accepts only that. The answer table of docs/ANSWERS.md lists
// the same shapes: keep them together.
var successShapes = []struct {
	name  string
	match func(b []byte) bool
}{
	{"an empty body (ASCII whitespace only: space, tab, CR, LF)", func(b []byte) bool { return len(b) == 0 }},
	{"an empty JSON object {}", endpoint.IsEmptyObject},
}

// classify turns a reply into an Answer. It is the contract with Concur, so
// the order matters: the admin-token statuses come before any reading of the
// message (a 403 "token has expired" may be about the admin token, never
// proof that the row's token is gone);
// then throttling and server failures, which are retried; then the two
// allow-lists: a 200 or 204 whose body is a success shape is revoked, Concur's
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
		// The empty body that answers every revocation has nothing to
		// redact.
		msg = endpoint.ServerText(rep.message, secrets, maxMessage)
	}
	apiErr := &APIError{Status: status, Message: msg, CorrelationID: ans.CorrelationID}
	retryLater := func(throttled bool) revoke.Answer {
		ans.Retry, ans.Throttled = true, throttled
		ans.RetryAfter = endpoint.RetryAfter(header.Get("Retry-After"), now)
		ans.Err = apiErr
		return ans
	}
	// Only 200 and 204 are Concur's (endpoint.SuccessStatus): any other
	// 2xx is a surprise, read neither as success nor as "gone".
	ok2xx := endpoint.SuccessStatus(status)

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

// parseReply reads a body by its content, not its Content-Type: proxies and
// IIS error pages lie about the latter.
func parseReply(body []byte) reply {
	b := endpoint.TrimBody(body)
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
		rep = reply{message: endpoint.PageText(b, "title", "Message", "faultstring")}
	}
	return rep
}

// parseJSON reads {"Error":{"Message":…,"Server-Time":…,"Id":…}}, and
// nothing else: another key anywhere is another API's shape, and so is a
// key given twice, which encoding/json would settle by keeping the last.
// (Keys match without regard to case, as encoding/json does, so "ERROR"
// and "Error" are the same key twice.)
func parseJSON(b []byte) (reply, bool) {
	if duplicateKeys(b) {
		return reply{}, false
	}
	var doc struct {
		Error *struct {
			Message    string
			ServerTime string `json:"Server-Time"`
			ID         string `json:"Id"`
		}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	// Concur writes "Error"; another API's {"error":{…}} is not Concur's.
	if !bytes.Contains(b, []byte(`"Error"`)) || d.Decode(&doc) != nil || doc.Error == nil || len(bytes.TrimSpace(b[d.InputOffset():])) > 0 {
		return reply{}, false
	}
	return reply{concur: true, message: doc.Error.Message, id: doc.Error.ID}, true
}

// duplicateKeys reports whether an object anywhere in the JSON document b
// has the same key twice, keys compared as encoding/json matches them to
// fields (Unicode case folding), or whether b cannot be read as JSON.
func duplicateKeys(b []byte) bool {
	type frame struct {
		object, atKey bool
		seen          map[string]bool
	}
	var stack []*frame
	d := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			return true
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', atKey: t == '{', seen: map[string]bool{}})
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					if up := stack[len(stack)-1]; up.object {
						up.atKey = true
					}
				}
				continue
			}
		case string:
			if top != nil && top.object && top.atKey {
				k := foldKey(t)
				if top.seen[k] {
					return true
				}
				top.seen[k], top.atKey = true, false
				continue
			}
		}
		if top != nil && top.object {
			top.atKey = true
		}
	}
}

// foldKey maps every string that strings.EqualFold holds equal to s to one
// string: each rune to the smallest of its case-folding orbit.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// parseXML reads <Error><Message>…</Message><Server-Time>…</Server-Time><Id>…</Id></Error>
// as the whole document (an XML declaration, comments and blanks around it
// allowed), and nothing else: another root, another child, a second
// document, an attribute, a namespace, or an element inside a child is
// another API's shape, or a page. Every token is looked at: nothing of the
// document goes unread.
func parseXML(b []byte) (reply, bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	// The messages are ASCII in practice; reading any declared charset as
	// is beats refusing the whole body.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		rep  reply
		root bool
		// depth: 0 outside Error, 1 in Error, 2 in one of its children.
		depth int
		child string
		text  strings.Builder
		seen  = map[string]bool{}
	)
	blank := func(t xml.CharData) bool { return len(bytes.TrimSpace(t)) == 0 }
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return rep, root && depth == 0
		}
		if err != nil {
			return reply{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(t.Attr) > 0 || t.Name.Space != "" {
				return reply{}, false
			}
			switch {
			case depth == 0 && !root && t.Name.Local == "Error":
				root = true
			case depth == 1 && slices.Contains([]string{"Message", "Id", "Server-Time"}, t.Name.Local) && !seen[t.Name.Local]:
				child, seen[t.Name.Local] = t.Name.Local, true
				text.Reset()
			default:
				return reply{}, false
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				switch child {
				case "Message":
					rep.message = text.String()
				case "Id":
					rep.id = text.String()
				}
			}
			if depth == 0 {
				rep.concur = true
			}
		case xml.CharData:
			switch {
			case depth == 2:
				text.Write(t)
			case !blank(t):
				return reply{}, false
			}
		case xml.Comment:
		case xml.ProcInst:
			// An XML declaration; never inside the document.
			if depth > 0 {
				return reply{}, false
			}
		default:
			// A DOCTYPE (a page's, never Concur's), or anything else.
			return reply{}, false
		}
	}
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

// isGone reports whether msg positively says that the row's target is
// gone. The whole message (lower case, blanks collapsed, a final full stop
// dropped) must be one of the statements below for the row's kind, and, as
// a second line should the statements ever be widened, hold no negation
// outside their own words and no word about anything but the target.
// "Token could not be revoked", "invalid consumerKey" and "invalid
// parameter: token" are not gone. "OAuth token" is not a subject: that is
// how Concur names the administrator's token.
func isGone(msg string, kind input.Kind) bool {
	m := strings.TrimRight(strings.Join(strings.Fields(strings.ToLower(msg)), " "), ".!")
	var stated bool
	switch kind {
	case input.KindToken:
		stated = tokenGone(m)
	case input.KindUser:
		stated = userGone(m)
	}
	return stated && !negatedOrElsewhere(m)
}

// tokenGone: "invalid token", "no such access token"; or "[the] [access]
// token [is|was|has [been]] [already] [been] invalid|unknown|expired|revoked|
// not valid|no longer valid|not found|does not exist|not recognised [or
// [has] [been] invalid|unknown|expired|revoked]".
func tokenGone(m string) bool {
	for _, adjective := range []string{"already revoked ", "invalid ", "unknown ", "expired ", "revoked ", "no such "} {
		if rest, ok := strings.CutPrefix(m, adjective); ok {
			rest = optional(rest, "access ", "refresh ", "bearer ")
			return rest == "token"
		}
	}
	rest := optional(m, "the ", "this ", "that ", "given ", "provided ", "supplied ", "specified ")
	rest = optional(rest, "access ", "refresh ", "bearer ")
	rest, ok := strings.CutPrefix(rest, "token ")
	if !ok {
		return false
	}
	rest = optional(rest, "has been ", "had been ", "have been ", "is ", "was ", "has ")
	rest = optional(rest, "already ")
	rest = optional(rest, "been ")
	for _, state := range []string{"invalid", "unknown", "expired", "revoked", "not valid", "no longer valid",
		"not found", "does not exist", "not recognised", "not recognized"} {
		r, ok := strings.CutPrefix(rest, state)
		if !ok {
			continue
		}
		if r == "" {
			return true
		}
		if r, ok = strings.CutPrefix(r, " or "); ok {
			r = optional(r, "has ")
			r = optional(r, "been ")
			return slices.Contains([]string{"invalid", "unknown", "expired", "revoked"}, r)
		}
	}
	return false
}

// userGone: "no [access] token(s) [were|was] found [for [the|this] user]",
// "[the] user has no [access] token(s) [to revoke]", "unknown user", "[the]
// user is unknown|was not found|not found|does not exist".
func userGone(m string) bool {
	if m == "unknown user" {
		return true
	}
	if rest, ok := strings.CutPrefix(m, "no "); ok {
		rest = optional(rest, "access ")
		if rest, ok = cutFirst(rest, "tokens ", "token "); !ok {
			return false
		}
		rest = optional(rest, "were ", "was ")
		rest, ok = strings.CutPrefix(rest, "found")
		return ok && slices.Contains([]string{"", " for the user", " for this user", " for user"}, rest)
	}
	rest, ok := strings.CutPrefix(optional(m, "the ", "this "), "user ")
	if !ok {
		return false
	}
	if r, ok := strings.CutPrefix(rest, "has no "); ok {
		r, ok = cutFirst(optional(r, "access "), "tokens", "token")
		return ok && (r == "" || r == " to revoke")
	}
	return slices.Contains([]string{"is unknown", "was not found", "not found", "does not exist"}, rest)
}

// optional drops the first of prefixes that s starts with, if any.
func optional(s string, prefixes ...string) string {
	s, _ = cutFirst(s, prefixes...)
	return s
}

// cutFirst drops the first of prefixes that s starts with, and says
// whether there was one.
func cutFirst(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return s, false
}

var (
	// goneNegations are the statements' own negative phrases, cut out
	// before negations are looked for.
	goneNegations = strings.NewReplacer("not found", "", "does not exist", "", "no longer valid", "", "not valid", "",
		"not recognised", "", "not recognized", "", "no such", "", "no access token", "", "no token", "", "has no", "")
	// negations rule a message out whatever else it says: "could not",
	// "cannot", "unable", "failed", "was not", "not revoked"…
	negations = []string{"not", "no", "never", "cannot", "can't", "couldn't", "wasn't", "isn't", "aren't", "won't",
		"didn't", "doesn't", "unable", "fail", "fails", "failed", "failure", "unsuccessful", "error"}
	// elsewhere are the words of a message about the request, the
	// application, the company or the credentials rather than the target:
	// a wrong consumer key leaves every token of the user alive.
	elsewhere      = []string{"app", "apps", "key", "keys", "role", "roles"}
	elsewhereStems = []string{"consumer", "client", "applica", "compan", "credential", "secret", "admin", "oauth",
		"authori", "permission", "scope", "request", "parameter", "argument", "header", "format", "method"}
)

// negatedOrElsewhere reports whether m, a normalised message, holds a
// negation outside the statements' own phrases, or a word about something
// other than the target.
func negatedOrElsewhere(m string) bool {
	for _, stem := range elsewhereStems {
		if strings.Contains(m, stem) {
			return true
		}
	}
	words := strings.FieldsFunc(goneNegations.Replace(m), func(r rune) bool { return (r < 'a' || r > 'z') && r != '\'' })
	for _, w := range words {
		if slices.Contains(negations, w) || slices.Contains(elsewhere, w) {
			return true
		}
	}
	return false
}
