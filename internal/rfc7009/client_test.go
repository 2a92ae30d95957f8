package rfc7009

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

const (
	// A client ID and secret with every character that RFC 6749 §2.3.1's
	// form-urlencoding exists for.
	testClientID = "bulk:revoker+1"
	testSecret   = "s3cr&t=+/ x%:y"
	testToken    = "tok-SECRET-0123456789"
)

func tokenRow(tok, hint string) input.Row {
	return input.Row{Line: 2, Kind: input.KindToken, Token: tok, TokenTypeHint: hint}
}

// assertNoSecret fails if err's text holds the client secret or the token,
// raw or escaped.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	testutil.AssertNoSecret(t, err, testSecret, testToken)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	type want struct {
		status     revoke.Status
		retry      bool
		throttled  bool
		fatal      bool
		retryAfter time.Duration
		errHas     string // "" means no error
		id         string
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   want
	}{
		{name: "200 empty: revoked (or never existed: RFC 7009 does not say)", status: 200,
			want: want{status: revoke.Revoked}},
		{name: "200 empty JSON object", status: 200, body: "{}\n",
			want: want{status: revoke.Revoked}},
		{name: "204 no content", status: 204,
			want: want{status: revoke.Revoked}},
		{name: "200 with an error body is not a revocation", status: 200, body: `{"error":"invalid_request"}`,
			want: want{status: revoke.Failed, errHas: "200 OK: unrecognised answer: not counted as revoked: invalid_request"}},
		{name: "200 login portal page", status: 200, body: "<!DOCTYPE html><html><head><TITLE>Sign in</TITLE></head></html>",
			want: want{status: revoke.Failed, errHas: "200 OK: unrecognised answer: not counted as revoked: Sign in"}},
		{name: "401 invalid_client, as fosite writes it", status: 401,
			body: `{"error":"invalid_client","error_description":"Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."}`,
			want: want{status: revoke.Failed, fatal: true, errHas: "the revocation endpoint rejected the client credentials (invalid_client): Client authentication failed"}},
		{name: "401 without a body", status: 401, header: http.Header{"Www-Authenticate": {`Basic realm="x"`}},
			want: want{status: revoke.Failed, fatal: true, errHas: "rejected the client credentials (HTTP 401)"}},
		{name: "400 invalid_client", status: 400, body: `{"error":"invalid_client"}`,
			want: want{status: revoke.Failed, fatal: true, errHas: "(invalid_client)"}},
		{name: "400 unsupported_token_type", status: 400,
			body: `{"error":"unsupported_token_type","error_description":"refresh tokens cannot be revoked here"}`,
			want: want{status: revoke.Failed, errHas: "400 Bad Request: unrecognised answer: not counted as revoked: unsupported_token_type: refresh tokens cannot be revoked here"}},
		{name: "400 invalid_request", status: 400, body: `{"error":"invalid_request"}`,
			want: want{status: revoke.Failed, errHas: "400 Bad Request: unrecognised answer: not counted as revoked: invalid_request"}},
		{name: "403 unauthorized_client", status: 403, body: `{"error":"unauthorized_client"}`,
			want: want{status: revoke.Failed, errHas: "403 Forbidden: unrecognised answer: not counted as revoked: unauthorized_client"}},
		{name: "404 page", status: 404, body: "<html><title>Not Found</title></html>",
			want: want{status: revoke.Failed, errHas: "404 Not Found: unrecognised answer: not counted as revoked: Not Found"}},
		{name: "302 to a login page", status: 302, header: http.Header{"Location": {"https://login.example.com/"}},
			want: want{status: revoke.Failed, errHas: "302 Found"}},
		{name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}},
			want: want{status: revoke.Failed, retry: true, throttled: true, retryAfter: 7 * time.Second, errHas: "429"}},
		{name: "503 with an HTTP-date Retry-After", status: 503, header: http.Header{"Retry-After": {"Wed, 01 May 2024 10:00:30 GMT"}},
			body: `{"error":"temporarily_unavailable"}`,
			want: want{status: revoke.Failed, retry: true, retryAfter: 30 * time.Second, errHas: "503 Service Unavailable: temporarily_unavailable"}},
		{name: "503 without Retry-After", status: 503,
			want: want{status: revoke.Failed, retry: true, errHas: "503"}},
		{name: "500", status: 500, body: "oops",
			want: want{status: revoke.Failed, retry: true, errHas: "500 Internal Server Error: oops"}},
		{name: "502 proxy page", status: 502, body: "<html><head><title>502 Bad Gateway</title></head></html>",
			want: want{status: revoke.Failed, retry: true, errHas: "502 Bad Gateway"}},
		{name: "error that is not a string", status: 400, body: `{"error":{"message":"bad"}}`,
			want: want{status: revoke.Failed, errHas: "400 Bad Request: unrecognised answer: not counted as revoked: error"}},
		{name: "request ID kept", status: 200, header: http.Header{"X-Okta-Request-Id": {"req-42"}},
			want: want{status: revoke.Revoked, id: "req-42"}},
		{name: "request ID with spaces dropped", status: 200, header: http.Header{"X-Request-Id": {"a b"}},
			want: want{status: revoke.Revoked}},
		{name: "echoed token and secret are fingerprinted", status: 400,
			body: `{"error":"invalid_request","error_description":"bad token ` + testToken + ` for ` + url.QueryEscape(testSecret) + `"}`,
			want: want{status: revoke.Failed, errHas: "bad token sha256:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			ans := classify(tt.status, h, []byte(tt.body), now, []string{testToken, testSecret})
			got := want{status: ans.Status, retry: ans.Retry, throttled: ans.Throttled, fatal: ans.Fatal,
				retryAfter: ans.RetryAfter, id: ans.CorrelationID}
			wantNoErr := tt.want
			wantNoErr.errHas = ""
			if got != wantNoErr {
				t.Errorf("answer %+v, want %+v", got, wantNoErr)
			}
			if ans.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus %d, want %d", ans.HTTPStatus, tt.status)
			}
			switch {
			case tt.want.errHas == "" && ans.Err != nil:
				t.Errorf("error %v, want none", ans.Err)
			case tt.want.errHas != "" && (ans.Err == nil || !strings.Contains(ans.Err.Error(), tt.want.errHas)):
				t.Errorf("error %v, want one containing %q", ans.Err, tt.want.errHas)
			}
			var apiErr *APIError
			if ans.Err != nil && !errors.As(ans.Err, &apiErr) {
				t.Errorf("error %T is not an *APIError", ans.Err)
			}
			if apiErr != nil && (apiErr.Fatal() != ans.Fatal || apiErr.Retryable() != ans.Retry) {
				t.Errorf("APIError says fatal %v retryable %v; the answer says %v %v", apiErr.Fatal(), apiErr.Retryable(), ans.Fatal, ans.Retry)
			}
			assertNoSecret(t, ans.Err)
		})
	}
}

// seen is what the test server saw of one request.
type seen struct {
	method, contentType, auth, userAgent string
	form                                 url.Values
}

// newEndpoint serves answer on loopback and records every request.
func newEndpoint(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*url.URL, *atomic.Int64, chan seen) {
	t.Helper()
	var hits atomic.Int64
	requests := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		requests <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), form}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/oauth2/v1/revoke")
	if err != nil {
		t.Fatal(err)
	}
	return u, &hits, requests
}

func newClient(t *testing.T, u *url.URL, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{RevokeURL: u, ClientID: testClientID, ClientSecret: testSecret, Timeout: 5 * time.Second, UserAgent: "bulkrevoke/test"}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRevokeSendsOneRFC7009Request(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		auth     string
		hint     string
		wantForm url.Values
	}{
		{name: "basic, no hint", auth: "", wantForm: url.Values{"token": {testToken}}},
		{name: "basic, refresh token hint", auth: AuthBasic, hint: "refresh_token",
			wantForm: url.Values{"token": {testToken}, "token_type_hint": {"refresh_token"}}},
		{name: "post", auth: AuthPost, hint: "access_token",
			wantForm: url.Values{"token": {testToken}, "token_type_hint": {"access_token"}, "client_id": {testClientID}, "client_secret": {testSecret}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, hits, requests := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {})
			c := newClient(t, u, func(cfg *Config) { cfg.ClientAuth = tt.auth })
			ans := c.Revoke(context.Background(), tokenRow(testToken, tt.hint))
			if ans.Status != revoke.Revoked || ans.Err != nil || ans.HTTPStatus != 200 {
				t.Fatalf("answer %+v", ans)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d requests, want exactly 1", n)
			}
			got := <-requests
			if got.method != http.MethodPost || got.contentType != "application/x-www-form-urlencoded" || got.userAgent != "bulkrevoke/test" {
				t.Errorf("request %s, Content-Type %q, User-Agent %q", got.method, got.contentType, got.userAgent)
			}
			if len(got.form) != len(tt.wantForm) {
				t.Errorf("form %v, want %v", got.form, tt.wantForm)
			}
			for k, v := range tt.wantForm {
				if got.form.Get(k) != v[0] {
					t.Errorf("form %s = %q, want %q", k, got.form.Get(k), v[0])
				}
			}
			if tt.auth == AuthPost {
				if got.auth != "" {
					t.Errorf("post authentication also sent Authorization %q", got.auth)
				}
				return
			}
			// RFC 6749 §2.3.1: form-urlencode, join with a colon, base64.
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got.auth, "Basic "))
			if err != nil || !strings.HasPrefix(got.auth, "Basic ") {
				t.Fatalf("Authorization %q: %v", got.auth, err)
			}
			id, secret, ok := strings.Cut(string(raw), ":")
			if !ok {
				t.Fatalf("Basic credentials %q have no colon", raw)
			}
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
			if id != testClientID || secret != testSecret {
				t.Errorf("Basic credentials decode to %q / %q, want %q / %q", id, secret, testClientID, testSecret)
			}
		})
	}
}

func TestRevokeWithoutAUsableReply(t *testing.T) {
	t.Parallel()
	// hang answers only once the client has gone away, so that the
	// server can close.
	hang := func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

	t.Run("connection refused is retried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		u, _ := url.Parse(srv.URL + "/revoke")
		srv.Close()
		ans := newClient(t, u, nil).Revoke(context.Background(), tokenRow(testToken, ""))
		if !ans.Retry || ans.Status != revoke.Failed || ans.Fatal || ans.Err == nil {
			t.Errorf("answer %+v", ans)
		}
		assertNoSecret(t, ans.Err)
	})
	t.Run("no reply within the timeout is retried", func(t *testing.T) {
		t.Parallel()
		u, _, _ := newEndpoint(t, hang)
		c := newClient(t, u, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
		ans := c.Revoke(context.Background(), tokenRow(testToken, ""))
		if !ans.Retry || ans.Err == nil || !strings.Contains(ans.Err.Error(), "no reply within 50ms") {
			t.Errorf("answer %+v", ans)
		}
		assertNoSecret(t, ans.Err)
	})
}

func TestRevokeRefusesRowsItCannotSend(t *testing.T) {
	t.Parallel()
	u, hits, _ := newEndpoint(t, func(http.ResponseWriter, *http.Request) {})
	c := newClient(t, u, nil)
	tests := []struct {
		name   string
		row    input.Row
		errHas string
	}{
		{"user row", input.Row{Line: 3, Kind: input.KindUser, User: "ann", ConsumerKey: "ck"}, "user/consumerKey row has no meaning"},
		{"invalid row", input.Row{Line: 4, Kind: input.KindToken, Token: "a b", Invalid: "token contains a space"}, "row is invalid"},
		{"token row without a token", input.Row{Line: 5, Kind: input.KindToken}, "no token"},
		{"unknown kind", input.Row{Line: 6, Kind: "group", Token: "x"}, "unknown row kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckRow(tt.row); err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("CheckRow: %v, want an error containing %q", err, tt.errHas)
			}
			ans := c.Revoke(context.Background(), tt.row)
			if ans.Status != revoke.Failed || ans.Retry || ans.Err == nil || !strings.Contains(ans.Err.Error(), tt.errHas) {
				t.Errorf("answer %+v", ans)
			}
		})
	}
	if err := CheckRow(tokenRow(testToken, "")); err != nil {
		t.Errorf("CheckRow refuses a token row: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests sent for rows that cannot be sent", n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	good, _ := url.Parse("https://example.okta.com/oauth2/v1/revoke")
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"no URL", func(c *Config) { c.RevokeURL = nil }, "no revocation URL"},
		{"plain http to a remote host", func(c *Config) { c.RevokeURL, _ = url.Parse("http://example.okta.com/revoke") }, "loopback only"},
		{"no client ID", func(c *Config) { c.ClientID = "" }, "empty client ID"},
		{"client ID with a newline", func(c *Config) { c.ClientID = "abc\n" }, "client ID holds a control"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "empty client secret"},
		{"secret with a newline", func(c *Config) { c.ClientSecret = testSecret + "\n" }, "client secret holds a control"},
		{"unknown client auth", func(c *Config) { c.ClientAuth = "jwt" }, `client authentication "jwt"`},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{RevokeURL: good, ClientID: testClientID, ClientSecret: testSecret}
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
			assertNoSecret(t, err)
		})
	}
}
