// Package endpoint holds what every revocation client needs from HTTP,
// whatever the provider: the rule for where secrets may be sent (https, or
// http on loopback only), a keep-alive client that never follows a redirect,
// bounded reading of replies, Retry-After, and keeping secrets out of
// anything a server echoes or net/http prints.
package endpoint

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

const (
	// MaxBody bounds what is read of a reply: revocation replies are a few
	// hundred bytes, and an unbounded read would let a proxy's error page
	// cost memory per worker.
	MaxBody = 64 << 10
	// MaxRetryAfter caps the server's Retry-After: a bogus "retry in a day"
	// must not park a worker through an incident.
	MaxRetryAfter = 5 * time.Minute
	// maxID caps a request or correlation ID; real ones are UUIDs.
	maxID = 100
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
		// *url.Error repeats the input, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("check URL: %w", err)
	}
	return CheckURL(u)
}

// CheckURL validates u and returns a copy with the scheme lowercased: https
// always; http only when the host is loopback (127.0.0.0/8, ::1, localhost),
// because every request carries a secret. The URL must not carry
// credentials, a query or a fragment.
func CheckURL(u *url.URL) (*url.URL, error) {
	switch {
	case u.Scheme == "" || u.Host == "":
		return nil, fmt.Errorf("check URL %s: want an absolute URL such as https://host/path", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("check URL %s: must not carry credentials", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("check URL %s: must not carry a query or fragment", u.Redacted())
	}
	n := *u
	n.Scheme = strings.ToLower(u.Scheme)
	switch n.Scheme {
	case "https":
	case "http":
		if !isLoopback(n.Hostname()) {
			return nil, fmt.Errorf("check URL %s: http is allowed on loopback only; use https", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("check URL %s: scheme %q: want https", u.Redacted(), u.Scheme)
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

// ReadBody reads at most MaxBody of a reply, then drains a bounded remainder
// and closes it so that the connection goes back to the idle pool; a larger
// body costs a new connection rather than memory.
func ReadBody(body io.ReadCloser) ([]byte, error) {
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, MaxBody))
		_ = body.Close()
	}()
	return io.ReadAll(io.LimitReader(body, MaxBody))
}

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

// Redact replaces every secret in s, raw or escaped as in a query string,
// a form body or a path, by its fingerprint: a server may echo the request
// back.
func Redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		fp := input.Fingerprint(secret)
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			s = strings.ReplaceAll(s, form, fp)
		}
	}
	return s
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

// CleanText makes a server's message fit one line of an outcome row:
// printable, whitespace collapsed, at most maxLen characters.
func CleanText(s string, maxLen int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxLen {
		s = string(r[:maxLen-1]) + "…"
	}
	return s
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
