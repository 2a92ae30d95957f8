// Package rfc7009 is the client for any OAuth 2.0 Token Revocation endpoint
// (RFC 7009: Okta, Auth0, Keycloak, Salesforce and others): it sends one
// revocation request per call, authenticated as the client at the token
// endpoint, and classifies the reply into a revoke.Answer, never letting a
// secret into an error.
package rfc7009

import (
	"context"
	"encoding/base64"
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

// Client authentication methods (RFC 6749 §2.3.1).
const (
	// AuthBasic sends the client ID and secret in an HTTP Basic
	// Authorization header; every server must support it.
	AuthBasic = "basic"
	// AuthPost sends them as client_id and client_secret form fields.
	AuthPost = "post"
)

const (
	// DefaultTimeout bounds a request when Config.Timeout is zero.
	DefaultTimeout = endpoint.DefaultTimeout
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = endpoint.DefaultUserAgent
)

// Config is what a Client needs.
type Config struct {
	// RevokeURL is the revocation endpoint itself, e.g.
	// https://example.okta.com/oauth2/v1/revoke. It is held to
	// endpoint.CheckURL's rule: https, or http on loopback only.
	RevokeURL *url.URL
	// ClientID and ClientSecret authenticate the client. The secret is
	// never logged nor put in an error.
	ClientID     string
	ClientSecret string
	// ClientAuth is AuthBasic (the default when empty) or AuthPost.
	ClientAuth string
	// UserAgent is e.g. "bulkrevoke/1.2.3"; empty sends DefaultUserAgent.
	UserAgent string
	// Timeout bounds each request, reply body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means endpoint.NewHTTPClient(revoke.DefaultConcurrency).
	// Redirects are refused whatever the client says: following one would
	// resend the client secret and the token to wherever Location points.
	HTTPClient *http.Client
}

// Client revokes tokens through an RFC 7009 endpoint. It implements
// revoke.Revoker and is safe for concurrent use.
type Client struct {
	endpoint  string
	clientID  string
	basic     string // the Authorization header for AuthBasic, else ""
	secrets   []string
	userAgent string
	timeout   time.Duration
	http      *http.Client
}

var (
	_ revoke.Revoker    = (*Client)(nil)
	_ revoke.RowChecker = (*Client)(nil)
)

// CheckRow is CheckRow: the Client cannot send other rows.
func (c *Client) CheckRow(row input.Row) error { return CheckRow(row) }

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.RevokeURL == nil {
		return nil, errors.New("new RFC 7009 client: no revocation URL")
	}
	u, err := endpoint.CheckURL(cfg.RevokeURL)
	if err != nil {
		return nil, fmt.Errorf("new RFC 7009 client: %w", err)
	}
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("new RFC 7009 client: empty client ID")
	case !endpoint.SecretChars(cfg.ClientID, true): // VSCHAR, as the secret
		return nil, errors.New("new RFC 7009 client: the client ID holds a control or non-ASCII character")
	case cfg.ClientSecret == "":
		return nil, errors.New("new RFC 7009 client: empty client secret")
	case !endpoint.SecretChars(cfg.ClientSecret, true):
		// Usually a newline left by `cat secret-file`; naming the secret
		// would leak it, so name the problem only.
		return nil, errors.New("new RFC 7009 client: the client secret holds a control or non-ASCII character")
	}
	c := &Client{
		endpoint:  u.String(),
		clientID:  cfg.ClientID,
		secrets:   []string{cfg.ClientSecret},
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		http:      endpoint.NewHTTPClient(revoke.DefaultConcurrency),
	}
	switch cfg.ClientAuth {
	case "", AuthBasic:
		// RFC 6749 §2.3.1: the ID and the secret are form-urlencoded
		// before they are joined and base64-encoded, so that a colon or a
		// non-ASCII byte in either survives.
		cred := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)))
		c.basic = "Basic " + cred
		// A server that echoes the request must not leak the header either.
		c.secrets = append(c.secrets, cred)
	case AuthPost:
	default:
		return nil, fmt.Errorf("new RFC 7009 client: client authentication %q: want %s or %s", cfg.ClientAuth, AuthBasic, AuthPost)
	}
	switch {
	case c.timeout < 0:
		return nil, fmt.Errorf("new RFC 7009 client: negative timeout %s", c.timeout)
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if cfg.HTTPClient != nil {
		c.http = endpoint.WithoutRedirects(cfg.HTTPClient)
	}
	return c, nil
}

// CheckRow says why a row cannot be sent to an RFC 7009 endpoint, or nil.
// RFC 7009 revokes one token at a time: a user/consumerKey row, which asks
// Concur for every token of a user, has no meaning here. The CLI applies it
// to the input (revoke.CheckRows), so such rows are recorded as invalid
// before anything is sent.
func CheckRow(row input.Row) error {
	switch {
	case row.Invalid != "":
		return fmt.Errorf("row is invalid: %s", row.Invalid)
	case row.Kind == input.KindUser:
		return errors.New("a user/consumerKey row has no meaning for an RFC 7009 endpoint, which revokes one token at a time: give the token")
	case row.Kind != input.KindToken:
		return fmt.Errorf("unknown row kind %q", row.Kind)
	case row.Token == "":
		return errors.New("token row has no token")
	}
	return nil
}

// Revoke sends exactly one revocation request for row and classifies the
// reply. A row that cannot be sent (see CheckRow) fails without a request.
func (c *Client) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	if err := CheckRow(row); err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: fmt.Errorf("revoke line %d: %w", row.Line, err)}
	}
	if err := ctx.Err(); err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: fmt.Errorf("revoke line %d: %w", row.Line, err)}
	}
	secrets := append([]string{row.Token}, c.secrets...)

	form := url.Values{"token": {row.Token}}
	if row.TokenTypeHint != "" {
		form.Set("token_type_hint", row.TokenTypeHint)
	}
	if c.basic == "" {
		form.Set("client_id", c.clientID)
		form.Set("client_secret", c.secrets[0])
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: endpoint.Scrub(fmt.Errorf("build revocation request: %w", endpoint.WithoutURL(err)), secrets)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.basic != "" {
		req.Header.Set("Authorization", c.basic)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return endpoint.NoReply(ctx, 0, "", "send revocation request", err, c.timeout, secrets)
	}
	body, err := endpoint.ReadBody(resp.Body)
	if err != nil {
		return endpoint.NoReply(ctx, resp.StatusCode, requestID(resp.Header, secrets), "read revocation reply", err, c.timeout, secrets)
	}
	return classify(resp.StatusCode, resp.Header, body, time.Now(), secrets)
}
