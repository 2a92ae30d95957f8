package revoketest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// secrets is what a case authenticates with and revokes.
type secrets struct {
	name          string
	secret, token string
}

var (
	// short holds every character that query, form, path, XML and HTML
	// escaping change, so that an echo in any of those forms is caught.
	short = secrets{"short secrets", `Adm1n+S3cr/t=&%~!*Q'<x>`, `RoW+t0k/EN=&x y~!Z"42`}
	// long is the size of Concur's tokens (JWTs of about 1 KB), so that a
	// cut anywhere before redaction leaves a piece of one in sight.
	long = secrets{"long secrets", jwtLike("admin", 1500), jwtLike("row", 1200)}
)

// jwtLike returns a fixed n-byte string that looks like a JWT.
func jwtLike(seed string, n int) string {
	var b strings.Builder
	h := sha256.Sum256([]byte(seed))
	for b.Len() < n {
		b.WriteString(base64.RawURLEncoding.EncodeToString(h[:]))
		h = sha256.Sum256(h[:])
	}
	s := []byte("eyJ" + b.String()[3:n])
	s[n/3], s[2*n/3] = '.', '.'
	return string(s)
}

// marker starts every echo, so that a case can tell that the server's
// words reached Answer.Err.
const marker = "ECHO-MARKER"

// cases lists the suite. Names are stable: KnownFailures refers to them.
func cases() []testCase {
	var cs []testCase
	add := func(name string, run func(*testing.T, Provider, *check)) {
		cs = append(cs, testCase{name, run})
	}
	for _, sec := range []secrets{short, long} {
		add("revoked/"+sec.name, func(t *testing.T, p Provider, c *check) { caseRevoked(t, p, c, sec) })
	}
	add("cancellation/while waiting for the reply is final", caseCancelWaiting)
	add("cancellation/before sending sends nothing", caseCancelBefore)
	add("timeout/our own is retried", caseTimeout)
	for _, code := range []int{301, 302, 303, 307, 308} {
		add(fmt.Sprintf("redirect/%d is not followed", code), func(t *testing.T, p Provider, c *check) { caseRedirect(t, p, c, code, false) })
		add(fmt.Sprintf("redirect/%d is not followed by a client that follows", code), func(t *testing.T, p Provider, c *check) { caseRedirect(t, p, c, code, true) })
	}
	for _, sh := range echoShapes {
		for _, sec := range []secrets{short, long} {
			add("echoed secret/"+sh.name+"/"+sec.name, func(t *testing.T, p Provider, c *check) { caseEcho(t, p, c, sh, sec) })
		}
	}
	for _, sh := range unrecognised2xx {
		add("unrecognised 2xx/"+sh.name, func(t *testing.T, p Provider, c *check) { caseUnrecognised(t, p, c, sh) })
	}
	for _, sh := range unauthorized {
		add("401 is fatal/"+sh.name, func(t *testing.T, p Provider, c *check) { caseUnauthorized(t, p, c, sh) })
	}
	for _, ra := range retryAfters() {
		add("429 is throttled/"+ra.name, func(t *testing.T, p Provider, c *check) { caseThrottled(t, p, c, ra) })
	}
	for _, sh := range serverErrors {
		add("5xx is retried/"+sh.name, func(t *testing.T, p Provider, c *check) { caseServerError(t, p, c, sh) })
	}
	add("requests/one per call", caseOneRequestPerCall)
	add("connections/reused over sequential calls", caseConnectionsReused)
	return cs
}

// under is a Revoker under test, pointed at its own server.
type under struct {
	p   Provider
	c   *check
	srv *server
	sec secrets
	rev revoke.Revoker
}

// start serves h and builds the provider's Revoker for it; edit, when set,
// adjusts the Endpoint first.
func start(t *testing.T, p Provider, c *check, sec secrets, h http.HandlerFunc, edit func(*Endpoint)) *under {
	t.Helper()
	srv := serve(t, h)
	e := srv.endpoint(sec.secret)
	if edit != nil {
		edit(&e)
	}
	return &under{p: p, c: c, srv: srv, sec: sec, rev: p.New(t, e)}
}

// revoke sends the token row once and checks that it took exactly one
// request and that nothing secret came back.
func (u *under) revoke(ctx context.Context, what string) revoke.Answer {
	return u.revokeWant(ctx, what, 1, 1)
}

// revokeWant is revoke for a call that sends between least and most
// requests: a request our own timeout cut short may end before the server
// has counted it, on a loaded machine.
func (u *under) revokeWant(ctx context.Context, what string, least, most int64) revoke.Answer {
	before := u.srv.hits.Load()
	ans := u.rev.Revoke(ctx, u.p.TokenRow(7, u.sec.token))
	if n := u.srv.hits.Load() - before; n < least || n > most {
		if least == most {
			u.c.errorf("%s: Revoke sent %d requests, want exactly %d", what, n, least)
		} else {
			u.c.errorf("%s: Revoke sent %d requests, want %d to %d", what, n, least, most)
		}
	}
	u.noSecret(what, ans)
	return ans
}

// noSecret checks that neither Err nor CorrelationID holds any secret the
// case used or the server saw, whole, escaped or in part.
func (u *under) noSecret(what string, ans revoke.Answer) {
	all := append([]string{u.sec.secret, u.sec.token}, u.srv.credentials()...)
	if ans.Err != nil {
		if form := leaked(ans.Err.Error(), all); form != "" {
			u.c.errorf("%s: Err holds a secret (%q): %q", what, form, ans.Err)
		}
	}
	if form := leaked(ans.CorrelationID, all); form != "" {
		u.c.errorf("%s: CorrelationID holds a secret (%q): %q", what, form, ans.CorrelationID)
	}
}

// piece is the length of the shortest piece of a secret that counts as a
// leak: a piece of a token is as bad as a token.
const piece = 16

// leaked returns the first form or piece of a secret found in s, or "".
func leaked(s string, secrets []string) string {
	if s == "" {
		return ""
	}
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, form := range forms(sec) {
			if strings.Contains(s, form) {
				return form
			}
		}
		for i := 0; i+piece <= len(sec); i++ {
			if strings.Contains(s, sec[i:i+piece]) {
				return sec[i : i+piece]
			}
		}
	}
	return ""
}

// forms returns secret as it is and as each encoding a reply may carry it
// in writes it.
func forms(secret string) []string {
	js := jsonString(secret)
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret), html.EscapeString(secret), xmlEscape(secret), js[1 : len(js)-1]}
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func caseRevoked(t *testing.T, p Provider, c *check, sec secrets) {
	u := start(t, p, c, sec, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(p.CorrelationHeader, "req-0042")
		p.Revoked(w, r)
	}, nil)
	ans := u.revoke(context.Background(), "the provider's success reply")
	if ans.Status != revoke.Revoked || ans.Err != nil || ans.Retry || ans.Fatal || ans.Throttled || ans.HTTPStatus/100 != 2 {
		c.errorf("the provider's success reply: got %+v, want revoked with a 2xx status, no error, no retry", ans)
	}
	if ans.CorrelationID != "req-0042" {
		c.errorf("CorrelationID = %q, want the %s header's req-0042", ans.CorrelationID, p.CorrelationHeader)
	}
	if !u.srv.sawValue(sec.token) {
		c.errorf("the request did not carry the row's token in its query or form")
	}
	if !u.srv.sawValue(sec.secret) {
		c.errorf("the request did not carry the secret in its Authorization header, query or form")
	}
}

// hang answers only once the client has gone away, so that the server can
// close; arrived, when set, is called as the request arrives.
func hang(arrived func()) http.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			arrived()
		}
		<-r.Context().Done()
	}
}

func caseCancelWaiting(t *testing.T, p Provider, c *check) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	u := start(t, p, c, short, hang(func() { once.Do(cancel) }), nil)
	ans := u.revoke(ctx, "cancelled while waiting")
	if ans.Status != revoke.Failed || ans.Retry || ans.Fatal || !errors.Is(ans.Err, context.Canceled) {
		c.errorf("cancelled while waiting: got %+v, want failed, not retried, an error that is context.Canceled", ans)
	}
}

func caseCancelBefore(t *testing.T, p Provider, c *check) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u := start(t, p, c, short, func(w http.ResponseWriter, r *http.Request) { p.Revoked(w, r) }, nil)
	ans := u.rev.Revoke(ctx, p.TokenRow(7, short.token))
	if n := u.srv.hits.Load(); n != 0 {
		c.errorf("an already cancelled call sent %d requests, want none", n)
	}
	if ans.Status != revoke.Failed || ans.Retry || !errors.Is(ans.Err, context.Canceled) {
		c.errorf("already cancelled: got %+v, want failed, not retried, an error that is context.Canceled", ans)
	}
	u.noSecret("already cancelled", ans)
}

func caseTimeout(t *testing.T, p Provider, c *check) {
	u := start(t, p, c, short, hang(nil), func(e *Endpoint) { e.Timeout = 300 * time.Millisecond })
	ans := u.revokeWant(context.Background(), "no reply within our timeout", 0, 1)
	if ans.Status != revoke.Failed || !ans.Retry || ans.Fatal || !errors.Is(ans.Err, context.DeadlineExceeded) {
		c.errorf("no reply within our timeout: got %+v, want failed, retried, an error that is context.DeadlineExceeded", ans)
	}
}

func caseRedirect(t *testing.T, p Provider, c *check, code int, following bool) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) { p.Revoked(w, r) })
	u := start(t, p, c, short, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target.url+"/revoke")
		w.WriteHeader(code)
	}, func(e *Endpoint) {
		if following {
			e.HTTPClient = &http.Client{} // follows up to 10 redirects
		}
	})
	ans := u.revoke(context.Background(), fmt.Sprintf("a %d", code))
	if n := target.hits.Load(); n != 0 {
		c.errorf("a %d was followed: its target got %d requests", code, n)
	}
	if ans.Status != revoke.Failed || ans.HTTPStatus != code {
		c.errorf("a %d: got %+v, want failed with HTTPStatus %d", code, ans, code)
	}
}

// echoShape is a reply that echoes what the request carried.
type echoShape struct {
	name string
	// reply writes the reply with status, echoing echo (see echoOf).
	reply func(w http.ResponseWriter, status int, echo, token string)
	// words is set when every provider must show the server's words from
	// this shape in Err for some status, so that the case cannot pass by
	// dropping them all.
	words bool
}

// echoOf is everything a request carried that a careless server might
// send back: the token and the secret as they are, the raw query, the raw
// body and the Authorization header.
func echoOf(r *http.Request, sec secrets) string {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	return fmt.Sprintf("%s token %s is not valid; secret %s; query %s; body %s; authorization %s",
		marker, sec.token, sec.secret, r.URL.RawQuery, body, r.Header.Get("Authorization"))
}

// correlationHeaders are the request-ID headers of the better-known
// providers: a server may echo a secret in any of them.
var correlationHeaders = []string{"Concur-Correlationid", "X-Request-Id", "X-Okta-Request-Id", "X-Correlation-Id", "Request-Id"}

func headerEcho(pick func(echo, token string) string) func(http.ResponseWriter, int, string, string) {
	return func(w http.ResponseWriter, status int, echo, token string) {
		v := pick(echo, token)
		for _, h := range correlationHeaders {
			w.Header().Set(h, v)
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
	}
}

var echoShapes = []echoShape{
	{name: "Concur XML error", reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Message>%s</Message><Id>%s</Id></Error>`, xmlEscape(echo), xmlEscape(token))
	}},
	{name: "Concur JSON error", reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"Error":{"Message":%s,"Id":%s}}`, jsonString(echo), jsonString(token))
	}},
	{name: "OAuth JSON error", reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%s}`, jsonString(echo))
	}},
	{name: "HTML page", reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>%s</title></head><body><p>%s</p></body></html>`, html.EscapeString(echo), html.EscapeString(echo))
	}},
	{name: "plain text", words: true, reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprint(w, echo)
	}},
	{name: "plain text after 4 KiB of blanks", reply: func(w http.ResponseWriter, status int, echo, token string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprint(w, marker+strings.Repeat(" \n", 2<<10)+echo)
	}},
	{name: "request-ID headers hold the token", reply: headerEcho(func(_, token string) string { return token })},
	{name: "request-ID headers hold the token, escaped", reply: headerEcho(func(_, token string) string { return "id-" + url.QueryEscape(token) })},
	{name: "request-ID headers hold the whole echo", reply: headerEcho(func(echo, _ string) string { return echo })},
}

// echoStatuses are the statuses each echo shape is sent with: success,
// row errors, rejected credentials, throttling and server failures go
// through different code.
var echoStatuses = []int{200, 400, 401, 403, 404, 429, 500, 503}

func caseEcho(t *testing.T, p Provider, c *check, sh echoShape, sec secrets) {
	var status atomic.Int64
	u := start(t, p, c, sec, func(w http.ResponseWriter, r *http.Request) {
		sh.reply(w, int(status.Load()), echoOf(r, sec), sec.token)
	}, nil)
	words := false
	for _, code := range echoStatuses {
		status.Store(int64(code))
		ans := u.revoke(context.Background(), fmt.Sprintf("a %d echoing the request", code))
		// A 2xx that echoes is the unrecognised-2xx cases' business; any
		// other status is never a revocation.
		if code >= 300 && ans.Status == revoke.Revoked {
			c.errorf("a %d echoing the request is revoked", code)
		}
		words = words || (ans.Err != nil && strings.Contains(ans.Err.Error(), marker))
	}
	if sh.words && !words {
		c.errorf("for no status did the server's words (%s…) reach Err", marker)
	}
}

// reply is a canned reply.
type reply struct {
	name   string
	status int
	header map[string]string
	body   string
}

func (rep reply) write(w http.ResponseWriter) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

const loginPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><form method="post" action="/login"><input name="user"><input type="password" name="password"></form></body></html>`

// unrecognised2xx are 2xx replies that no provider's server gives for a
// revocation: a proxy's or login portal's page, other APIs' error shapes.
var unrecognised2xx = []reply{
	{name: "HTML login page", status: 200, header: map[string]string{"Content-Type": "text/html"}, body: loginPage},
	{name: "HTML login page with 202", status: 202, header: map[string]string{"Content-Type": "text/html"}, body: loginPage},
	{name: "HTML login page labelled XML", status: 200, header: map[string]string{"Content-Type": "application/xml"}, body: loginPage},
	{name: "HTML page after a comment", status: 200, body: "<!-- portal -->\n" + loginPage},
	{name: "XHTML page", status: 200, body: `<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Proxy</title></head><body/></html>`},
	{name: "HTML page after 70 KiB of blanks", status: 200, body: strings.Repeat(" ", 70<<10) + loginPage},
	{name: "plain text OK", status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: "OK"},
	{name: "JSON success false", status: 200, header: map[string]string{"Content-Type": "application/json"},
		body: `{"success":false,"errors":[{"message":"Token revocation failed"}]}`},
	{name: "JSON status error", status: 200, header: map[string]string{"Content-Type": "application/json"},
		body: `{"status":"error","message":"revocation failed"}`},
	{name: "JSON array", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: `[{"message":"revocation failed"}]`},
	{name: "SOAP fault", status: 200, header: map[string]string{"Content-Type": "text/xml"},
		body: `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>` +
			`<faultcode>soap:Server</faultcode><faultstring>Revocation failed</faultstring></soap:Fault></soap:Body></soap:Envelope>`},
	{name: "XML errors list", status: 200, header: map[string]string{"Content-Type": "application/xml"},
		body: `<errors><message>revocation failed</message></errors>`},
	{name: "empty JSON object padded past the read limit", status: 200, header: map[string]string{"Content-Type": "application/json"},
		body: "{}" + strings.Repeat(" ", endpoint.MaxBody+1024)},
}

func caseUnrecognised(t *testing.T, p Provider, c *check, rep reply) {
	u := start(t, p, c, short, func(w http.ResponseWriter, _ *http.Request) { rep.write(w) }, nil)
	ans := u.revoke(context.Background(), rep.name)
	if ans.Status != revoke.Failed || ans.Err == nil || ans.HTTPStatus != rep.status {
		c.errorf("%s: got %+v (%v), want failed with an error and HTTPStatus %d", rep.name, ans.Status, ans.Err, rep.status)
	}
}

var unauthorized = []reply{
	{name: "empty body", status: 401},
	{name: "with WWW-Authenticate", status: 401, header: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
	{name: "HTML page", status: 401, header: map[string]string{"Content-Type": "text/html"}, body: loginPage},
	{name: "Concur XML error", status: 401, header: map[string]string{"Content-Type": "application/xml"},
		body: `<Error><Message>Invalid token</Message></Error>`},
	{name: "OAuth JSON error", status: 401, header: map[string]string{"Content-Type": "application/json"},
		body: `{"error":"invalid_client","error_description":"client authentication failed"}`},
}

func caseUnauthorized(t *testing.T, p Provider, c *check, rep reply) {
	u := start(t, p, c, short, func(w http.ResponseWriter, _ *http.Request) { rep.write(w) }, nil)
	ans := u.revoke(context.Background(), "a 401")
	if !ans.Fatal || ans.Status != revoke.Failed || ans.Retry || ans.Err == nil || ans.HTTPStatus != 401 {
		c.errorf("a 401 (%s): got %+v, want fatal, failed, not retried, with an error", rep.name, ans)
	}
}

// retryAfter is a 429's Retry-After and the delay it must give.
type retryAfter struct {
	name     string
	value    func() string
	min, max time.Duration
}

func retryAfters() []retryAfter {
	date := func(d time.Duration) func() string {
		return func() string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	}
	return []retryAfter{
		{name: "no Retry-After", value: func() string { return "" }},
		{name: "Retry-After in seconds", value: func() string { return "7" }, min: 7 * time.Second, max: 7 * time.Second},
		{name: "Retry-After as a date", value: date(2 * time.Minute), min: time.Minute, max: 2 * time.Minute},
		{name: "Retry-After far ahead is capped", value: func() string { return "86400" }, min: endpoint.MaxRetryAfter, max: endpoint.MaxRetryAfter},
		{name: "Retry-After in the past", value: date(-time.Hour)},
		{name: "Retry-After garbage", value: func() string { return "soon" }},
	}
}

func caseThrottled(t *testing.T, p Provider, c *check, ra retryAfter) {
	u := start(t, p, c, short, func(w http.ResponseWriter, _ *http.Request) {
		if v := ra.value(); v != "" {
			w.Header().Set("Retry-After", v)
		}
		w.WriteHeader(http.StatusTooManyRequests)
	}, nil)
	ans := u.revoke(context.Background(), "a 429")
	if ans.Status != revoke.Failed || !ans.Retry || !ans.Throttled || ans.Fatal || ans.HTTPStatus != 429 {
		c.errorf("a 429: got %+v, want failed, retried, throttled, not fatal", ans)
	}
	if ans.RetryAfter < ra.min || ans.RetryAfter > ra.max {
		c.errorf("a 429 with %s: RetryAfter = %s, want %s to %s", ra.name, ans.RetryAfter, ra.min, ra.max)
	}
}

// serverError is a 5xx reply and the Retry-After it must give.
type serverError struct {
	reply
	retryAfter time.Duration
}

var serverErrors = []serverError{
	{reply: reply{name: "500 empty", status: 500}},
	{reply: reply{name: "502 proxy page", status: 502, header: map[string]string{"Content-Type": "text/html"},
		body: "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"}},
	{reply: reply{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "3"}}, retryAfter: 3 * time.Second},
	{reply: reply{name: "504 empty", status: 504}},
}

func caseServerError(t *testing.T, p Provider, c *check, se serverError) {
	u := start(t, p, c, short, func(w http.ResponseWriter, _ *http.Request) { se.write(w) }, nil)
	ans := u.revoke(context.Background(), "a "+se.name)
	if ans.Status != revoke.Failed || !ans.Retry || ans.Fatal || ans.Err == nil || ans.HTTPStatus != se.status {
		c.errorf("a %s: got %+v, want failed, retried, not fatal, with an error", se.name, ans)
	}
	if ans.RetryAfter != se.retryAfter {
		c.errorf("a %s: RetryAfter = %s, want %s", se.name, ans.RetryAfter, se.retryAfter)
	}
}

// mixed are the replies that one Revoker gets in turn in the request and
// connection cases. The bodies are larger than a read buffer, so that a
// Revoker that stops reading early loses its connection.
func mixed(p Provider) []func(http.ResponseWriter, *http.Request) {
	big := strings.Repeat("x", 20<<10)
	canned := func(rep reply) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) { rep.write(w) }
	}
	return []func(http.ResponseWriter, *http.Request){
		p.Revoked,
		canned(reply{status: 400, body: `<Error><Message>` + big + `</Message></Error>`}),
		canned(reply{status: 400, body: `{"error":"invalid_request","error_description":"` + big + `"}`}),
		canned(reply{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: loginPage + big}),
		canned(reply{status: 404}),
		canned(reply{status: 429, header: map[string]string{"Retry-After": "1"}}),
		canned(reply{status: 500, body: big}),
		canned(reply{status: 401}),
		canned(reply{status: 302, header: map[string]string{"Location": "/elsewhere"}}),
	}
}

func caseOneRequestPerCall(t *testing.T, p Provider, c *check) {
	replies := mixed(p)
	var next atomic.Int64
	u := start(t, p, c, short, func(w http.ResponseWriter, r *http.Request) {
		replies[int(next.Add(1)-1)%len(replies)](w, r)
	}, nil)
	for i := range replies {
		u.revoke(context.Background(), "reply "+strconv.Itoa(i))
	}
	if n := u.srv.hits.Load(); n != int64(len(replies)) {
		c.errorf("%d calls sent %d requests, want %d", len(replies), n, len(replies))
	}
}

func caseConnectionsReused(t *testing.T, p Provider, c *check) {
	replies := mixed(p)
	var next atomic.Int64
	u := start(t, p, c, short, func(w http.ResponseWriter, r *http.Request) {
		replies[int(next.Add(1)-1)%len(replies)](w, r)
	}, nil)
	const calls = 45
	for i := range calls {
		u.revoke(context.Background(), "call "+strconv.Itoa(i))
	}
	if n := u.srv.conns.Load(); n != 1 {
		c.errorf("%d sequential calls opened %d connections, want 1", calls, n)
	}
}
