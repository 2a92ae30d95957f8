// Package concur is the client for SAP Concur's legacy Revoke Token endpoint:
// it sends one revocation request per call and classifies the reply into a
// revoke.Answer, never letting a secret into an error.
package concur

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	// Path is the legacy Revoke Token endpoint, relative to the instance.
	Path = "/net2/oauth2/revoketoken.ashx"
	// CorrelationHeader carries Concur's request ID, which support asks for.
	CorrelationHeader = "Concur-Correlationid"
	// DefaultTimeout is Concur's own promise: a reply should come within 60 s.
	DefaultTimeout = 60 * time.Second
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "bulkrevoke"

	// maxBody bounds what is read of a reply: Concur's error bodies are a
	// few hundred bytes, and an unbounded read would let a proxy's error
	// page cost memory per worker.
	maxBody = 64 << 10
)

// Config is what a Client needs.
type Config struct {
	// BaseURL is the instance, e.g. https://www.concursolutions.com. It is
	// checked as CheckBaseURL does; it may also name the endpoint itself.
	BaseURL *url.URL
	// AdminToken is sent as "Authorization: OAuth {token}". It is never
	// logged nor put in an error.
	AdminToken string
	// UserParam names the application on user rows: "consumerKey" (the
	// default, as in Concur's parameter table) or "client_id" (as in the
	// page's example and Concur's SDK).
	UserParam string
	// UserAgent is e.g. "bulkrevoke/1.2.3"; empty sends DefaultUserAgent.
	UserAgent string
	// Timeout bounds each request, reply body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means NewHTTPClient(16). Redirects
	// are refused whatever the client says: following one would resend the
	// token in the query to wherever the Location points.
	HTTPClient *http.Client
}

// Client revokes tokens through Concur's legacy endpoint. It implements
// revoke.Revoker and is safe for concurrent use.
type Client struct {
	endpoint   url.URL
	auth       string
	adminToken string // kept only to scrub it out of what the server echoes
	userParam  string
	userAgent  string
	timeout    time.Duration
	http       *http.Client
}

var _ revoke.Revoker = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == nil {
		return nil, errors.New("new concur client: no base URL")
	}
	base, err := checkURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("new concur client: %w", err)
	}
	if cfg.AdminToken == "" {
		return nil, errors.New("new concur client: empty administrator token")
	}
	if strings.ContainsFunc(cfg.AdminToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// Usually a newline left by `cat token-file`; naming the token
		// would leak it, so name the problem only.
		return nil, errors.New("new concur client: administrator token contains spaces or control characters")
	}
	userParam := cfg.UserParam
	switch userParam {
	case "":
		userParam = "consumerKey"
	case "consumerKey", "client_id":
	default:
		return nil, fmt.Errorf("new concur client: user parameter %q: want consumerKey or client_id", userParam)
	}
	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("new concur client: negative timeout %s", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	hc := NewHTTPClient(16)
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		c.CheckRedirect = refuseRedirect
		hc = &c
	}
	endpoint := *base
	if !strings.HasSuffix(endpoint.Path, Path) {
		endpoint = *endpoint.JoinPath(Path)
	}
	return &Client{
		endpoint:   endpoint,
		auth:       "OAuth " + cfg.AdminToken,
		adminToken: cfg.AdminToken,
		userParam:  userParam,
		userAgent:  userAgent,
		timeout:    timeout,
		http:       hc,
	}, nil
}

// NewHTTPClient returns an HTTP client over NewTransport(concurrency) that
// refuses redirects and leaves deadlines to each call's context.
func NewHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: NewTransport(concurrency), CheckRedirect: refuseRedirect}
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

// Revoke sends exactly one revocation request for row and classifies the
// reply. A row that cannot be sent (no token, no user or consumer key) fails
// without a request.
func (c *Client) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	query, err := c.query(row)
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: fmt.Errorf("revoke line %d: %w", row.Line, err)}
	}
	secrets := []string{c.adminToken, row.Token}

	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.endpoint
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: scrub(fmt.Errorf("build revocation request: %w", withoutURL(err)), secrets)}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.http.Do(req)
	if err != nil {
		return c.noReply(ctx, 0, "", "send revocation request", err, secrets)
	}
	body, err := readBody(resp.Body)
	if err != nil {
		return c.noReply(ctx, resp.StatusCode, cleanID(resp.Header.Get(CorrelationHeader)),
			"read revocation reply", err, secrets)
	}
	return classify(resp.StatusCode, resp.Header, body, time.Now(), secrets)
}

// query builds the request's parameters; url.Values escapes them.
func (c *Client) query(row input.Row) (url.Values, error) {
	if row.Invalid != "" {
		return nil, fmt.Errorf("revoke line %d: row is invalid: %s", row.Line, row.Invalid)
	}
	switch row.Kind {
	case input.KindToken:
		if row.Token == "" {
			return nil, fmt.Errorf("revoke line %d: token row has no token", row.Line)
		}
		return url.Values{"token": {row.Token}}, nil
	case input.KindUser:
		if row.User == "" || row.ConsumerKey == "" {
			return nil, fmt.Errorf("revoke line %d: user row needs both a user and a consumer key", row.Line)
		}
		return url.Values{c.userParam: {row.ConsumerKey}, "user": {row.User}}, nil
	default:
		return nil, fmt.Errorf("revoke line %d: unknown row kind %q", row.Line, row.Kind)
	}
}

// noReply classifies a request that got no usable reply. The caller's own
// cancellation is final, so that a stopping run stops; anything else
// (refused connection, reset, our own timeout) may be retried.
func (c *Client) noReply(ctx context.Context, status int, correlationID, doing string, err error, secrets []string) revoke.Answer {
	ans := revoke.Answer{Status: revoke.Failed, HTTPStatus: status, CorrelationID: correlationID}
	if ctxErr := ctx.Err(); ctxErr != nil {
		ans.Err = fmt.Errorf("%s: abandoned: %w", doing, ctxErr)
		return ans
	}
	err = withoutURL(err)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no reply within %s: %w", c.timeout, err)
	}
	ans.Retry, ans.Err = true, scrub(fmt.Errorf("%s: %w", doing, err), secrets)
	return ans
}

// withoutURL drops the *url.Error wrapper that net/http puts around its
// errors, keeping its Op: it prints the request URL, and the URL carries the
// token.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// readBody reads at most maxBody of a reply, then drains a bounded remainder
// and closes it so that the connection goes back to the idle pool; a larger
// body costs a new connection rather than memory.
func readBody(body io.ReadCloser) ([]byte, error) {
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxBody))
		_ = body.Close()
	}()
	return io.ReadAll(io.LimitReader(body, maxBody))
}
