// Package concur is the client for SAP Concur's legacy Revoke Token endpoint:
// it sends one revocation request per call and classifies the reply into a
// revoke.Answer, never letting a secret into an error.
package concur

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	// Path is the legacy Revoke Token endpoint, relative to the instance.
	Path = "/net2/oauth2/revoketoken.ashx"
	// CorrelationHeader carries Concur's request ID, which support asks for.
	CorrelationHeader = "Concur-Correlationid"
	// DefaultTimeout bounds a request when Config.Timeout is zero.
	DefaultTimeout = endpoint.DefaultTimeout
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = endpoint.DefaultUserAgent
	// DefaultUserParam names the application on user rows when
	// Config.UserParam is empty, and is --user-param's default.
	DefaultUserParam = "consumerKey"
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
	// HTTPClient sends the requests; nil means endpoint.NewHTTPClient(revoke.DefaultConcurrency). Redirects
	// are refused whatever the client says: following one would resend the
	// token in the query to wherever the Location points.
	HTTPClient *http.Client
}

// Client revokes tokens through Concur's legacy endpoint. It implements
// revoke.Revoker and is safe for concurrent use.
type Client struct {
	endpoint   url.URL
	adminToken string // kept only to scrub it out of what the server echoes
	userParam  string
	timeout    time.Duration
	// send is http.Do, or the transport's RoundTrip when the client adds
	// nothing to it (see sender).
	send func(*http.Request) (*http.Response, error)
	// header is every request's headers, cloned per request: building
	// them once saves canonicalising three keys a row.
	header http.Header
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
	if !endpoint.SecretChars(cfg.AdminToken, false) {
		// Usually a newline left by `cat token-file`; naming the token
		// would leak it, so name the problem only.
		return nil, errors.New("new concur client: administrator token contains spaces or control characters, or non-ASCII ones")
	}
	userParam := cfg.UserParam
	if userParam == "" {
		userParam = DefaultUserParam
	}
	if !validUserParam(userParam) {
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
	hc := endpoint.NewHTTPClient(revoke.DefaultConcurrency)
	if cfg.HTTPClient != nil {
		hc = endpoint.WithoutRedirects(cfg.HTTPClient)
	}
	endpoint := *base
	if !strings.HasSuffix(endpoint.Path, Path) {
		endpoint = *endpoint.JoinPath(Path)
	}
	auth := "OAuth " + cfg.AdminToken
	return &Client{
		endpoint:   endpoint,
		adminToken: cfg.AdminToken,
		userParam:  userParam,
		timeout:    timeout,
		send:       sender(hc),
		header: http.Header{
			"Authorization": {auth},
			"Accept":        {"application/xml"},
			"User-Agent":    {userAgent},
		},
	}, nil
}

// validUserParam reports whether Concur reads the application on user rows
// under name p: consumerKey (its parameter table) or client_id (its example
// and SDK). New and --user-param's check share it.
func validUserParam(p string) bool { return p == DefaultUserParam || p == "client_id" }

// sender returns how requests are sent. Redirects are refused, so an
// http.Client that sets no timeout and keeps no cookies adds nothing to its
// transport but cost: copying the headers for redirects it will never
// follow, and a context per request. Calling the transport directly saves
// a sixth of a worker's time per row on loopback.
func sender(hc *http.Client) func(*http.Request) (*http.Response, error) {
	if hc.Timeout != 0 || hc.Jar != nil {
		return hc.Do
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && (resp == nil || resp.Body == nil) {
			// http.Client refuses these too; a broken RoundTripper must
			// not panic a worker.
			return nil, fmt.Errorf("http: RoundTripper %T returned no response or no body", rt)
		}
		return resp, err
	}
}

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
	u.RawQuery = query
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: endpoint.Scrub(fmt.Errorf("build revocation request: %w", endpoint.WithoutURL(err)), secrets)}
	}
	req.Header = c.header.Clone()

	resp, err := c.send(req)
	if err != nil {
		return endpoint.NoReply(ctx, 0, "", "send revocation request", err, c.timeout, secrets)
	}
	var body []byte
	if resp.ContentLength == 0 {
		// Every revocation is answered so: nothing to read or buffer.
		_ = resp.Body.Close()
	} else if body, err = endpoint.ReadBody(resp.Body); err != nil {
		return endpoint.NoReply(ctx, resp.StatusCode, endpoint.CleanID(resp.Header.Get(CorrelationHeader), secrets),
			"read revocation reply", err, c.timeout, secrets)
	}
	return classify(resp.StatusCode, resp.Header, body, row.Kind, time.Now(), secrets)
}

// query builds the request's encoded query, as url.Values.Encode would
// (keys in order: consumerKey and client_id both sort before user) without
// a map per row.
func (c *Client) query(row input.Row) (string, error) {
	if row.Invalid != "" {
		return "", fmt.Errorf("revoke line %d: row is invalid: %s", row.Line, row.Invalid)
	}
	switch row.Kind {
	case input.KindToken:
		if row.Token == "" {
			return "", fmt.Errorf("revoke line %d: token row has no token", row.Line)
		}
		return "token=" + url.QueryEscape(row.Token), nil
	case input.KindUser:
		if row.User == "" || row.ConsumerKey == "" {
			return "", fmt.Errorf("revoke line %d: user row needs both a user and a consumer key", row.Line)
		}
		return c.userParam + "=" + url.QueryEscape(row.ConsumerKey) + "&user=" + url.QueryEscape(row.User), nil
	default:
		return "", fmt.Errorf("revoke line %d: unknown row kind %q", row.Line, row.Kind)
	}
}
