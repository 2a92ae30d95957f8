// Package endpoint holds what every revocation client needs from HTTP,
// whatever the provider: the rule for where secrets may be sent (https, or
// http on loopback only), a keep-alive client that never follows a redirect,
// bounded reading of replies, Retry-After, and keeping secrets out of
// anything a server echoes or net/http prints; the reply plumbing every
// provider shares (reply.go), the one secret reader (secret.go) and the
// clients' defaults.
package endpoint

import (
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	// MaxBody bounds what is read of a reply: revocation replies are a few
	// hundred bytes, and an unbounded read would let a proxy's error page
	// cost memory per worker.
	MaxBody = 64 << 10
	// MaxRetryAfter caps the server's Retry-After: a bogus "retry in a day"
	// must not park a worker through an incident.
	MaxRetryAfter = revoke.MaxRetryAfter
	// maxID caps a request or correlation ID; real ones are UUIDs.
	maxID = 100

	// DefaultTimeout bounds each request, reply body included, unless
	// told otherwise: the CLI's --timeout default, and every provider's
	// client's when its Config leaves Timeout zero. (Concur promises a
	// reply within 60 s; a request still open at 30 s is retried.)
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent when a client's Config leaves UserAgent
	// empty; the CLI sends "bulkrevoke/" and its version.
	DefaultUserAgent = "bulkrevoke"
)

// ParseURL parses and validates the URL of an endpoint that will be sent
// secrets (an admin token, client credentials, the tokens being revoked), as
// CheckURL does. Surrounding spaces are dropped.
func ParseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("check URL: empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the input, which may hold credentials; an
		// EscapeError repeats the bad escape, which may be a token's
		// piece.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ee url.EscapeError
		if errors.As(err, &ee) {
			err = errors.New("invalid URL escape")
		}
		return nil, fmt.Errorf("check URL: %w", err)
	}
	return CheckURL(u)
}

// ShownURL is u as an error message may show it: its user information,
// its query, its fragment and an opaque part each replaced by xxxxx. A
// token pasted into a URL (?token=…, #access_token=…, https://TOKEN@host)
// must not reach a log.
func ShownURL(u *url.URL) string {
	n := *u
	n.RawQuery, n.ForceQuery, n.Fragment, n.RawFragment = "", false, "", ""
	if n.User != nil {
		n.User = url.User("xxxxx")
	}
	if n.Opaque != "" {
		n.Opaque = "xxxxx"
	}
	s := n.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?xxxxx"
	}
	if u.Fragment != "" || u.RawFragment != "" {
		s += "#xxxxx"
	}
	return s
}

// CheckURL validates u and returns a copy with the scheme lowercased: https
// always; http only when the host is loopback (127.0.0.0/8, ::1, localhost),
// because every request carries a secret. The URL must not carry
// credentials, a query or a fragment. Its errors show the URL with those
// masked (ShownURL).
func CheckURL(u *url.URL) (*url.URL, error) {
	switch {
	case u.Scheme == "" || u.Host == "":
		return nil, fmt.Errorf("check URL %s: want an absolute URL such as https://host/path", ShownURL(u))
	case u.User != nil:
		return nil, fmt.Errorf("check URL %s: must not carry credentials", ShownURL(u))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("check URL %s: must not carry a query or fragment", ShownURL(u))
	}
	n := *u
	n.Scheme = strings.ToLower(u.Scheme)
	switch n.Scheme {
	case "https":
	case "http":
		if !isLoopback(n.Hostname()) {
			return nil, fmt.Errorf("check URL %s: http is allowed on loopback only; use https", ShownURL(u))
		}
	default:
		return nil, fmt.Errorf("check URL %s: scheme %q: want https", ShownURL(u), u.Scheme)
	}
	return &n, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// NewHTTPClient returns an HTTP client over NewTransport(concurrency) that
// refuses redirects and leaves deadlines to each call's context.
func NewHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: NewTransport(concurrency), CheckRedirect: refuseRedirect}
}

// WithoutRedirects returns a copy of c that refuses redirects whatever c
// says: following one would resend the request, secrets and all, to
// wherever the Location points.
func WithoutRedirects(c *http.Client) *http.Client {
	n := *c
	n.CheckRedirect = refuseRedirect
	return &n
}

// NewTransport returns a keep-alive transport whose idle pool is sized to the
// concurrency, so that every worker reuses its connection instead of paying
// a TLS handshake per row.
func NewTransport(concurrency int) *http.Transport {
	concurrency = max(concurrency, 1)
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          concurrency,
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// refuseRedirect makes the client hand back a 3xx as it is; the reply is
// then classified as a failure.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ReadBody reads a reply, at most MaxBody+1 bytes of it, then drains a
// bounded remainder and closes it so that the connection goes back to the
// idle pool; a larger body costs a new connection rather than memory. A
// result longer than MaxBody says the reply did not fit: the caller has not
// seen all of it and must not read it as success (Overlong).
func ReadBody(body io.ReadCloser) ([]byte, error) {
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, MaxBody))
		_ = body.Close()
	}()
	return io.ReadAll(io.LimitReader(body, MaxBody+1))
}

// Overlong reports whether a body from ReadBody did not fit in MaxBody.
func Overlong(body []byte) bool { return len(body) > MaxBody }

// RetryAfter reads a Retry-After value: delta-seconds or an HTTP-date.
// Negative, past or garbage values give 0 (the pool then backs off on its
// own), and the result is capped at MaxRetryAfter.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		// Delta-seconds too many to parse is the longest wait of all, not
		// garbage: capped like any long one.
		return MaxRetryAfter
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// WithoutURL drops the *url.Error wrapper that net/http puts around its
// errors, keeping its Op: it prints the request URL, and a URL may carry a
// token.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// MinPiece is the length from which a piece of a secret counts as the
// secret: no run of MinPiece or more characters of any secret, in any of the
// forms a server may echo it in, survives Redact. A server that echoes a
// token cut short (the first 800 bytes of a 1 KB JWT, or a body cut at
// MaxBody) gives pieces, not the whole; 24 characters of a random token are
// 144 bits or more, as good as the token to an attacker who can guess the
// rest, so pieces are redacted too. Shorter runs may remain: any text shares
// short runs with any token.
const MinPiece = 24

// Redact replaces every secret in s, raw or escaped as in a query string, a
// form body, a path, HTML, XML or JSON, by its fingerprint, and then every run of
// MinPiece or more characters that is a piece of one of those forms by
// "[piece of {fingerprint}]": a server may echo the request back, whole or
// cut. Redact works on the whole of s; callers cut its result, never its
// argument (see ServerText).
func Redact(s string, secrets []string) string {
	if s == "" {
		return s
	}
	var buf [4]echo
	pieces := buf[:0]
	escaped := strings.ContainsAny(s, escapes)
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		var fp string
		raw := [1]string{secret}
		forms := raw[:]
		if escaped {
			forms = echoForms(secret)
		}
		for _, form := range forms {
			if len(form) <= len(s) && strings.Contains(s, form) {
				if fp == "" {
					fp = input.Fingerprint(secret)
				}
				s = strings.ReplaceAll(s, form, fp)
			}
			if len(form) >= MinPiece && len(s) >= MinPiece {
				pieces = append(pieces, echo{form: form, secret: secret})
			}
		}
	}
	if len(pieces) == 0 || len(s) < MinPiece {
		return s
	}
	return redactPieces(s, pieces)
}

// escapes are the characters that every escaped form of a secret has and
// its raw form may lack: a text without them can hold only the raw form.
const escapes = `%+&\\`

// echo is one form in which a secret may come back.
type echo struct{ form, secret string }

// echoForms returns the ways a server may write secret back: as sent (raw,
// query or form escaped, path escaped) or as its own encoder writes a
// string (HTML or XML escaped; JSON as Go writes it, \u0026 and all, and
// with an escaped solidus as others do). A secret made of unreserved
// characters only, as JWTs are, has one form.
func echoForms(secret string) []string {
	forms := []string{secret}
	if !strings.ContainsFunc(secret, func(r rune) bool { return !unreserved(r) }) {
		return forms
	}
	var x strings.Builder
	_ = xml.EscapeText(&x, []byte(secret))
	j, _ := json.Marshal(secret)
	js := string(j[1 : len(j)-1])
	for _, f := range []string{
		url.QueryEscape(secret), url.PathEscape(secret), html.EscapeString(secret), x.String(),
		js, strings.ReplaceAll(js, "/", `\/`),
	} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}

// unreserved reports whether r is left alone by every escaping echoForms
// knows (RFC 3986's unreserved characters).
func unreserved(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~'
}

// redactPieces replaces every run of s that is MinPiece or more characters
// of some form in pieces. A run is such a piece exactly when each of its
// MinPiece-long windows occurs in that form, so windows of s are looked up,
// and a match is followed as far as it goes before the next lookup. Only
// runs made of bytes that occur in some form are looked at: in prose
// (spaces, punctuation a token lacks) that is almost nothing.
func redactPieces(s string, pieces []echo) string {
	var inSecret [256]bool
	f := &finder{pieces: pieces}
	for _, p := range pieces {
		f.total += len(p.form)
		for i := range len(p.form) {
			inSecret[p.form[i]] = true
		}
	}
	var spans []span
	for i := 0; i < len(s); {
		if !inSecret[s[i]] {
			i++
			continue
		}
		j := i
		for j < len(s) && inSecret[s[j]] {
			j++
		}
		if j-i >= MinPiece {
			spans = findPieces(s, i, j, f, spans)
		}
		i = j
	}
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString("[piece of " + input.Fingerprint(sp.secret) + "]")
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// span is a run of s to replace, and the secret it is a piece of.
type span struct {
	start, end int
	secret     string
}

// finder looks windows of MinPiece characters up in the forms of pieces:
// by scanning them (strings.Index, no set to build) while that is cheap,
// then, once the scans cost more than indexing every window of every form
// would, in a set of those windows.
type finder struct {
	pieces  []echo
	total   int // the forms' length, added up
	scanned int // bytes of forms scanned so far
	set     map[string]at
}

// setAfter is how many bytes of forms are scanned, beyond four times their
// length, before the set is built: texts of a few hundred bytes, however
// many secrets, never need it.
const setAfter = 64 << 10

// at is where a window occurs: in which form, at which offset.
type at struct{ piece, offset int }

func (f *finder) find(w string) (at, bool) {
	if f.set == nil && f.scanned > 4*f.total+setAfter {
		f.set = make(map[string]at, f.total)
		for k := len(f.pieces) - 1; k >= 0; k-- {
			form := f.pieces[k].form
			for off := len(form) - MinPiece; off >= 0; off-- {
				f.set[form[off:off+MinPiece]] = at{k, off}
			}
		}
	}
	if f.set != nil {
		a, ok := f.set[w]
		return a, ok
	}
	for k, p := range f.pieces {
		f.scanned += len(p.form)
		if off := strings.Index(p.form, w); off >= 0 {
			return at{k, off}, true
		}
	}
	return at{}, false
}

// findPieces appends to spans the pieces of s[from:to], merging spans that
// touch or overlap.
func findPieces(s string, from, to int, f *finder, spans []span) []span {
	pieces := f.pieces
	find := f.find
	for i := from; i+MinPiece <= to; i++ {
		a, ok := find(s[i : i+MinPiece])
		if !ok {
			continue
		}
		// Follow the match: every window inside it is a piece too.
		f := pieces[a.piece].form
		end := i + MinPiece
		for end < to && a.offset+end-i < len(f) && s[end] == f[a.offset+end-i] {
			end++
		}
		if n := len(spans); n > 0 && spans[n-1].end >= i {
			spans[n-1].end = max(spans[n-1].end, end)
		} else {
			spans = append(spans, span{start: i, end: end, secret: pieces[a.piece].secret})
		}
		// The windows that start before end-MinPiece+1 lie inside this
		// match; the next one may start another.
		i = end - MinPiece
	}
	return spans
}

// ServerText makes what a server wrote fit one line of an outcome row or a
// log: every secret and every piece of one redacted over the whole text
// (before and after whitespace is collapsed, which could join a piece),
// then cut to at most maxLen characters. Redacting first is the point: a
// cut first could keep the start of a secret that only its whole would
// have matched.
func ServerText(s string, secrets []string, maxLen int) string {
	s = Redact(s, secrets)
	if clean := CleanText(s, -1); clean != s {
		s = Redact(clean, secrets)
	}
	return cut(s, maxLen)
}

// Scrub is the last guard on errors from below (net/http, net, tls): should
// one of them print a secret, its text is redacted and its chain dropped,
// so that errors.As cannot dig the secret back out.
func Scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := Redact(msg, secrets); clean != msg {
		return errors.New(clean)
	}
	return err
}

// CleanText makes text fit one line: printable, whitespace collapsed, at
// most maxLen characters (no cut when maxLen < 0). It knows no secret: a
// server's words go through ServerText, which redacts before it cuts.
func CleanText(s string, maxLen int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return cut(strings.Join(strings.Fields(s), " "), maxLen)
}

// cut keeps at most maxLen characters of s, the last one an ellipsis when
// it cut; maxLen < 0 keeps all.
func cut(s string, maxLen int) string {
	if maxLen < 0 || utf8.RuneCountInString(s) <= maxLen {
		return s
	}
	if r := []rune(s); maxLen > 0 {
		return string(r[:maxLen-1]) + "…"
	}
	return ""
}

// CleanID keeps a request or correlation ID printable and short, or drops
// it. A server may echo anything back, so a secret in it is replaced by its
// fingerprint first.
func CleanID(s string, secrets []string) string {
	s = strings.TrimSpace(Redact(s, secrets))
	if len(s) > maxID || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return ""
	}
	return s
}
