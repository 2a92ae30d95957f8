package concur

import (
	"context"
	"errors"
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
	adminToken = "ADMIN-secret-0123456789abcdef"
	// rowToken holds every character the query must escape.
	rowToken = "row+tok/en=x&y z"
)

var tokenRow = input.Row{Line: 7, Kind: input.KindToken, Token: rowToken}

// newTestClient returns a client for srv with the test admin token; edit
// adjusts the Config first.
func newTestClient(t *testing.T, base string, edit func(*Config)) *Client {
	t.Helper()
	u, err := CheckBaseURL(base)
	if err != nil {
		t.Fatalf("CheckBaseURL(%q): %v", base, err)
	}
	cfg := Config{BaseURL: u, AdminToken: adminToken, UserAgent: "bulkrevoke/test", Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// assertNoSecret fails if err's text holds a secret or the request URL.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	testutil.AssertNoSecret(t, err, adminToken, rowToken, "row+tok", "revoketoken.ashx")
}

func TestRevokeClassifiesReplies(t *testing.T) {
	t.Parallel()
	xmlErr := func(msg string) string {
		return `<?xml version="1.0" encoding="utf-8"?><Error><Message>` + msg + `</Message><Server-Time>2024-05-01T10:00:00</Server-Time><Id>ERR-ID-1</Id></Error>`
	}
	future := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)

	type want struct {
		status     revoke.Status
		retry      bool
		throttled  bool
		fatal      bool
		retryAfter time.Duration // exact, unless retryAfterMin is set
		// retryAfterMin/Max bound RetryAfter for HTTP-dates, whose value
		// depends on the clock.
		retryAfterMin, retryAfterMax time.Duration
		correlationID                string
		errNil                       bool
		errHas                       []string
	}
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   want
	}{
		{
			name: "200 empty is revoked", status: 200,
			header: map[string]string{"Concur-Correlationid": "corr-1"},
			want:   want{status: revoke.Revoked, correlationID: "corr-1", errNil: true},
		},
		{
			name: "200 whitespace only is revoked", status: 200, body: " \r\n",
			want: want{status: revoke.Revoked, errNil: true},
		},
		{
			name: "200 XML error invalid token is not found", status: 200,
			header: map[string]string{"Concur-Correlationid": "corr-2", "Content-Type": "application/xml"},
			body:   xmlErr("Invalid token."),
			want:   want{status: revoke.NotFound, correlationID: "corr-2", errHas: []string{"200", "with an error", "Invalid token."}},
		},
		{
			name: "200 XML error already revoked is not found", status: 200,
			body: xmlErr("The token has already been revoked"),
			want: want{status: revoke.NotFound, correlationID: "ERR-ID-1", errHas: []string{"already been revoked"}},
		},
		{
			name: "200 XML error other is failed", status: 200,
			body: xmlErr("Company is not enabled for this operation"),
			want: want{status: revoke.Failed, correlationID: "ERR-ID-1", errHas: []string{"Company is not enabled"}},
		},
		{
			name: "200 XML error about a parameter is failed", status: 200,
			body: xmlErr("Invalid parameter: user"),
			want: want{status: revoke.Failed, correlationID: "ERR-ID-1", errHas: []string{"Invalid parameter"}},
		},
		{
			name: "200 XML error nested in another element is not Concur's shape: failed", status: 200,
			body: `<Response><Error><Message>Token not found</Message></Error></Response>`,
			want: want{status: revoke.Failed, errHas: []string{"unrecognised answer: not counted as revoked", "Token not found"}},
		},
		{
			name: "200 JSON error detected by content", status: 200,
			header: map[string]string{"Content-Type": "text/plain"},
			body:   `{"Error":{"Message":"Invalid token","Server-Time":"2024-05-01T10:00:00","Id":"JSON-ID"}}`,
			want:   want{status: revoke.NotFound, correlationID: "JSON-ID", errHas: []string{"Invalid token"}},
		},
		{
			name: "200 JSON error other is failed", status: 200,
			body: `{"Error":{"Message":"Internal failure"}}`,
			want: want{status: revoke.Failed, errHas: []string{"Internal failure"}},
		},
		{
			name: "200 JSON throttling message is retried", status: 200,
			body: `{"Error":{"Message":"Rate limit reached"}}`,
			want: want{status: revoke.Failed, retry: true, throttled: true, errHas: []string{"Rate limit reached"}},
		},
		{
			name: "200 unparseable body with an Error marker is failed", status: 200,
			body: `<Error><Message>Something broke</Message><Id>X`,
			want: want{status: revoke.Failed, errHas: []string{"Something broke"}},
		},
		{
			name: "200 unparseable JSON with an Error marker is failed", status: 200,
			body: `{"Error": {"Message": "cut short`,
			want: want{status: revoke.Failed, errHas: []string{"200"}},
		},
		{
			name: "200 plain text is not proof of revocation", status: 200, body: "OK",
			want: want{status: revoke.Failed, errHas: []string{"not counted as revoked"}},
		},
		{
			name: "200 HTML login page from a proxy is failed", status: 200,
			header: map[string]string{"Content-Type": "text/html"},
			body:   "<!DOCTYPE html><html><head><title>Sign in</title></head><body>SSO</body></html>",
			want:   want{status: revoke.Failed, errHas: []string{"not counted as revoked"}},
		},
		{
			name: "200 XHTML page, well-formed XML, is failed", status: 200,
			body: `<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x"><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in</title></head><body/></html>`,
			want: want{status: revoke.Failed, errHas: []string{"not counted as revoked"}},
		},
		{
			name: "200 XHTML page behind a long comment is failed", status: 200,
			body: "<!--" + strings.Repeat(" proxy banner", 60) + `--><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in</title></head></html>`,
			want: want{status: revoke.Failed, errHas: []string{"not counted as revoked"}},
		},
		{
			name: "200 HTML page opening with a comment is failed", status: 200,
			body: "<!-- proxy --><html><body>hello</body></html>",
			want: want{status: revoke.Failed, errHas: []string{"not counted as revoked"}},
		},
		{
			name: "an Error Id echoing the token is redacted", status: 200,
			body: "<Error><Message>Invalid token.</Message><Id>ADMIN-secret-0123456789abcdef</Id></Error>",
			want: want{status: revoke.NotFound, correlationID: "sha256:" + input.Fingerprint(adminToken)[7:], errHas: []string{"Invalid token."}},
		},
		{
			name: "200 well-formed XML without an Error is not a success shape: failed", status: 200, body: `<Result><Status>Success</Status></Result>`,
			want: want{status: revoke.Failed, errHas: []string{"unrecognised answer: not counted as revoked", "<Result><Status>Success"}},
		},
		{
			name: "204 is revoked", status: 204,
			want: want{status: revoke.Revoked, errNil: true},
		},
		{
			name: "400 request limit exceeded is throttled", status: 400,
			header: map[string]string{"Retry-After": "3"},
			body:   xmlErr("The number of requests received exceed the request limit."),
			want:   want{status: revoke.Failed, retry: true, throttled: true, retryAfter: 3 * time.Second, errHas: []string{"400", "request limit"}},
		},
		{
			name: "400 plain text request limit is throttled", status: 400,
			body: "Number of requests received exceed the request limit",
			want: want{status: revoke.Failed, retry: true, throttled: true, errHas: []string{"request limit"}},
		},
		{
			name: "400 missing parameter is failed", status: 400,
			body: xmlErr("Missing required parameter: user."),
			want: want{status: revoke.Failed, correlationID: "ERR-ID-1", errHas: []string{"400 Bad Request", "Missing required parameter"}},
		},
		{
			name: "400 invalid token is not found", status: 400,
			body: xmlErr("Invalid token."),
			want: want{status: revoke.NotFound, errHas: []string{"400", "Invalid token."}},
		},
		{
			name: "401 is fatal", status: 401,
			header: map[string]string{"Concur-Correlationid": "corr-401"},
			body:   xmlErr("The Authorization header is missing."),
			want: want{status: revoke.Failed, fatal: true, correlationID: "corr-401",
				errHas: []string{"Concur rejected the administrator token (401): missing or not accepted: The Authorization header is missing."}},
		},
		{
			name: "403 role is failed, suspect (forbidden_test.go)", status: 403,
			body: xmlErr("Consumer lacks the required role."),
			want: want{status: revoke.Failed, correlationID: "ERR-ID-1",
				errHas: []string{"Concur answered 403 Forbidden: Consumer lacks"}},
		},
		{
			name: "403 expired token is failed, not not found", status: 403,
			body: xmlErr("The OAuth token has expired or been revoked."),
			want: want{status: revoke.Failed, errHas: []string{"403", "has expired or been revoked"}},
		},
		{
			name: "403 without body is failed", status: 403,
			want: want{status: revoke.Failed, errHas: []string{"403"}},
		},
		{
			name: "404 HTML is failed", status: 404,
			header: map[string]string{"Content-Type": "text/html"},
			body:   "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body>x</body></html>",
			want:   want{status: revoke.Failed, errHas: []string{"404 Not Found", "File or directory not found"}},
		},
		{
			name: "405 is failed", status: 405, body: xmlErr("The requested resource does not support http method 'GET'."),
			want: want{status: revoke.Failed, errHas: []string{"405"}},
		},
		{
			name: "302 is failed and not followed", status: 302,
			header: map[string]string{"Location": "/elsewhere"},
			want:   want{status: revoke.Failed, errHas: []string{"302"}},
		},
		{
			name: "429 with Retry-After seconds", status: 429,
			header: map[string]string{"Retry-After": "7"},
			want:   want{status: revoke.Failed, retry: true, throttled: true, retryAfter: 7 * time.Second, errHas: []string{"429"}},
		},
		{
			name: "429 with Retry-After HTTP-date", status: 429,
			header: map[string]string{"Retry-After": future},
			want: want{status: revoke.Failed, retry: true, throttled: true,
				retryAfterMin: time.Minute, retryAfterMax: 2 * time.Minute, errHas: []string{"429"}},
		},
		{
			name: "429 with Retry-After 0", status: 429,
			header: map[string]string{"Retry-After": "0"},
			want:   want{status: revoke.Failed, retry: true, throttled: true, retryAfter: 0},
		},
		{
			name: "429 with garbage Retry-After", status: 429,
			header: map[string]string{"Retry-After": "soon"},
			want:   want{status: revoke.Failed, retry: true, throttled: true, retryAfter: 0},
		},
		{
			name: "429 with huge Retry-After is capped", status: 429,
			header: map[string]string{"Retry-After": "86400"},
			want:   want{status: revoke.Failed, retry: true, throttled: true, retryAfter: MaxRetryAfter},
		},
		{
			name: "429 with an invalid token message is still retried", status: 429,
			body: xmlErr("Invalid token"),
			want: want{status: revoke.Failed, retry: true, throttled: true},
		},
		{
			name: "500 is retried", status: 500, body: xmlErr("An error has occurred."),
			want: want{status: revoke.Failed, retry: true, errHas: []string{"500 Internal Server Error", "An error has occurred."}},
		},
		{
			name: "503 with Retry-After is retried", status: 503,
			header: map[string]string{"Retry-After": "120"},
			body:   xmlErr("Maintenance"),
			want:   want{status: revoke.Failed, retry: true, retryAfter: 2 * time.Minute, errHas: []string{"503"}},
		},
		{
			name: "502 HTML is retried", status: 502,
			header: map[string]string{"Content-Type": "text/html"},
			body:   "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
			want:   want{status: revoke.Failed, retry: true, errHas: []string{"502", "Bad Gateway"}},
		},
		{
			name: "a message echoing the tokens is redacted", status: 200,
			body: xmlErr("Invalid token " + rowToken + " for admin " + adminToken + " in " + url.QueryEscape(rowToken)),
			want: want{status: revoke.Failed, errHas: []string{input.Fingerprint(rowToken), input.Fingerprint(adminToken)}},
		},
		{
			name: "a long message is capped", status: 400,
			body: xmlErr(strings.Repeat("very long message ", 100)),
			want: want{status: revoke.Failed, errHas: []string{"…"}},
		},
		{
			name: "an overlong correlation header falls back to the body Id", status: 200,
			header: map[string]string{"Concur-Correlationid": strings.Repeat("x", 200)},
			body:   xmlErr("Invalid token"),
			want:   want{status: revoke.NotFound, correlationID: "ERR-ID-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits, redirected atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					redirected.Add(1)
					return
				}
				hits.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()

			got := newTestClient(t, srv.URL, nil).Revoke(context.Background(), tokenRow)

			if hits.Load() != 1 || redirected.Load() != 0 {
				t.Errorf("requests = %d, redirected = %d; want exactly one request, not redirected", hits.Load(), redirected.Load())
			}
			w := tt.want
			if got.Status != w.status || got.Retry != w.retry || got.Throttled != w.throttled || got.Fatal != w.fatal {
				t.Errorf("got status=%s retry=%v throttled=%v fatal=%v; want status=%s retry=%v throttled=%v fatal=%v (err: %v)",
					got.Status, got.Retry, got.Throttled, got.Fatal, w.status, w.retry, w.throttled, w.fatal, got.Err)
			}
			if got.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got.HTTPStatus, tt.status)
			}
			if w.retryAfterMin > 0 {
				if got.RetryAfter < w.retryAfterMin || got.RetryAfter > w.retryAfterMax {
					t.Errorf("RetryAfter = %s, want between %s and %s", got.RetryAfter, w.retryAfterMin, w.retryAfterMax)
				}
			} else if got.RetryAfter != w.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", got.RetryAfter, w.retryAfter)
			}
			if w.correlationID != "" && got.CorrelationID != w.correlationID {
				t.Errorf("CorrelationID = %q, want %q", got.CorrelationID, w.correlationID)
			}
			switch {
			case w.errNil && got.Err != nil:
				t.Errorf("Err = %v, want nil", got.Err)
			case !w.errNil && got.Err == nil:
				t.Errorf("Err = nil, want an error")
			}
			for _, s := range w.errHas {
				if got.Err == nil || !strings.Contains(got.Err.Error(), s) {
					t.Errorf("Err = %v, want it to contain %q", got.Err, s)
				}
			}
			if got.Err != nil {
				var apiErr *APIError
				if !errors.As(got.Err, &apiErr) {
					t.Errorf("Err = %T, want an *APIError", got.Err)
				} else if n := len([]rune(apiErr.Message)); n > maxMessage {
					t.Errorf("APIError.Message is %d characters, want at most %d", n, maxMessage)
				} else if apiErr.Fatal() != w.fatal || apiErr.Retryable() != w.retry {
					t.Errorf("APIError Fatal()=%v Retryable()=%v; want %v, %v", apiErr.Fatal(), apiErr.Retryable(), w.fatal, w.retry)
				}
			}
			assertNoSecret(t, got.Err)
			assertNoSecret(t, errors.New(got.CorrelationID))
		})
	}
}

func TestRevokeSendsTheRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base      string // path appended to the server URL
		userParam string
		row       input.Row
		wantPath  string
		wantQuery string // raw, to check the escaping itself
	}{
		{
			name:      "token row",
			row:       tokenRow,
			wantPath:  "/net2/oauth2/revoketoken.ashx",
			wantQuery: "token=row%2Btok%2Fen%3Dx%26y+z",
		},
		{
			name:      "user row with consumerKey by default",
			row:       input.Row{Kind: input.KindUser, User: "vicky+1@example.com", ConsumerKey: "eZBy/Xv2=&X"},
			wantPath:  "/net2/oauth2/revoketoken.ashx",
			wantQuery: "consumerKey=eZBy%2FXv2%3D%26X&user=vicky%2B1%40example.com",
		},
		{
			name:      "user row with client_id",
			userParam: "client_id",
			row:       input.Row{Kind: input.KindUser, User: "Vicky Smith", ConsumerKey: "eZByXv2X41cJlC21pSVvRi"},
			wantPath:  "/net2/oauth2/revoketoken.ashx",
			wantQuery: "client_id=eZByXv2X41cJlC21pSVvRi&user=Vicky+Smith",
		},
		{
			name:      "base URL with a path and trailing slash",
			base:      "/proxy/concur/",
			row:       tokenRow,
			wantPath:  "/proxy/concur/net2/oauth2/revoketoken.ashx",
			wantQuery: "token=row%2Btok%2Fen%3Dx%26y+z",
		},
		{
			name:      "base URL naming the endpoint itself",
			base:      "/net2/oauth2/revoketoken.ashx",
			row:       tokenRow,
			wantPath:  "/net2/oauth2/revoketoken.ashx",
			wantQuery: "token=row%2Btok%2Fen%3Dx%26y+z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan *http.Request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Clone(context.Background())
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL+tt.base, func(cfg *Config) { cfg.UserParam = tt.userParam })

			ans := c.Revoke(context.Background(), tt.row)
			if ans.Status != revoke.Revoked {
				t.Fatalf("Status = %s (%v), want revoked", ans.Status, ans.Err)
			}
			r := <-got
			if r.Method != http.MethodPost {
				t.Errorf("method = %s, want POST", r.Method)
			}
			if r.URL.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", r.URL.Path, tt.wantPath)
			}
			if r.URL.RawQuery != tt.wantQuery {
				t.Errorf("query = %q, want %q", r.URL.RawQuery, tt.wantQuery)
			}
			q := r.URL.Query()
			if tt.row.Kind == input.KindToken && q.Get("token") != tt.row.Token {
				t.Errorf("token parameter = %q, want %q", q.Get("token"), tt.row.Token)
			}
			if tt.row.Kind == input.KindUser && q.Get("user") != tt.row.User {
				t.Errorf("user parameter = %q, want %q", q.Get("user"), tt.row.User)
			}
			for h, want := range map[string]string{
				"Authorization": "OAuth " + adminToken,
				"Accept":        "application/xml",
				"User-Agent":    "bulkrevoke/test",
			} {
				if v := r.Header.Get(h); v != want {
					t.Errorf("header %s = %q, want %q", h, v, want)
				}
			}
			if r.ContentLength != 0 || len(r.TransferEncoding) != 0 {
				t.Errorf("ContentLength = %d, TransferEncoding = %v; want an empty body", r.ContentLength, r.TransferEncoding)
			}
		})
	}
}

func TestRevokeRefusesUnsendableRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		row     input.Row
		wantErr string
	}{
		{"token row without token", input.Row{Line: 3, Kind: input.KindToken}, "line 3: token row has no token"},
		{"user row without consumer key", input.Row{Line: 4, Kind: input.KindUser, User: "u"}, "needs both"},
		{"user row without user", input.Row{Line: 5, Kind: input.KindUser, ConsumerKey: "k"}, "needs both"},
		{"unknown kind", input.Row{Line: 6, Kind: "group", Token: rowToken}, `unknown row kind "group"`},
		{"invalid row", input.Row{Line: 8, Kind: input.KindToken, Token: rowToken, Invalid: "bad token"}, "row is invalid: bad token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
			defer srv.Close()

			ans := newTestClient(t, srv.URL, nil).Revoke(context.Background(), tt.row)
			if ans.Status != revoke.Failed || ans.Retry || ans.Err == nil || !strings.Contains(ans.Err.Error(), tt.wantErr) {
				t.Errorf("got %+v, want failed, not retried, error containing %q", ans, tt.wantErr)
			}
			if hits.Load() != 0 {
				t.Errorf("sent %d requests, want none", hits.Load())
			}
			assertNoSecret(t, ans.Err)
		})
	}
}

func TestRevokeWithoutReply(t *testing.T) {
	t.Parallel()

	t.Run("connection refused is retried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()

		ans := newTestClient(t, base, nil).Revoke(context.Background(), tokenRow)
		if ans.Status != revoke.Failed || !ans.Retry || ans.Fatal || ans.HTTPStatus != 0 || ans.Err == nil {
			t.Errorf("got %+v, want failed, retried, no HTTP status, an error", ans)
		}
		var ue *url.Error
		if errors.As(ans.Err, &ue) {
			t.Errorf("Err wraps a *url.Error, which carries the request URL")
		}
		assertNoSecret(t, ans.Err)
	})

	t.Run("server hanging past the timeout is retried", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)

		c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
		ans := c.Revoke(context.Background(), tokenRow)
		if ans.Status != revoke.Failed || !ans.Retry || !errors.Is(ans.Err, context.DeadlineExceeded) {
			t.Errorf("got %+v, want failed, retried, deadline exceeded", ans)
		}
		if ans.Err != nil && !strings.Contains(ans.Err.Error(), "no reply within 50ms") {
			t.Errorf("Err = %v, want it to say how long it waited", ans.Err)
		}
		assertNoSecret(t, ans.Err)
	})

	t.Run("caller cancelling is not retried", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
		}))
		defer srv.Close()

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-arrived
			cancel()
		}()
		ans := newTestClient(t, srv.URL, nil).Revoke(ctx, tokenRow)
		if ans.Status != revoke.Failed || ans.Retry || !errors.Is(ans.Err, context.Canceled) {
			t.Errorf("got %+v, want failed, not retried, context canceled", ans)
		}
		assertNoSecret(t, ans.Err)
	})

	t.Run("reply cut short is retried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Header().Set("Concur-Correlationid", "cut")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<Error>"))
		}))
		defer srv.Close()

		ans := newTestClient(t, srv.URL, nil).Revoke(context.Background(), tokenRow)
		if ans.Status != revoke.Failed || !ans.Retry || ans.HTTPStatus != 200 || ans.CorrelationID != "cut" || ans.Err == nil {
			t.Errorf("got %+v, want failed, retried, status 200, correlation ID kept", ans)
		}
		assertNoSecret(t, ans.Err)
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	good, _ := url.Parse("https://www.concursolutions.com")
	plain, _ := url.Parse("http://example.com")
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no base URL", Config{AdminToken: adminToken}, "no base URL"},
		{"http off loopback", Config{BaseURL: plain, AdminToken: adminToken}, "loopback only"},
		{"empty admin token", Config{BaseURL: good}, "empty administrator token"},
		{"admin token with a newline", Config{BaseURL: good, AdminToken: adminToken + "\n"}, "spaces or control characters"},
		{"unknown user parameter", Config{BaseURL: good, AdminToken: adminToken, UserParam: "clientId"}, `"clientId"`},
		{"negative timeout", Config{BaseURL: good, AdminToken: adminToken, Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    string // "" when refused
		wantErr string
	}{
		{raw: "https://www.concursolutions.com", want: "https://www.concursolutions.com"},
		{raw: "  https://eu1.concursolutions.com/  ", want: "https://eu1.concursolutions.com"},
		{raw: "HTTPS://implementation.concursolutions.com//", want: "https://implementation.concursolutions.com"},
		{raw: "https://proxy.example.com/concur/", want: "https://proxy.example.com/concur"},
		{raw: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{raw: "http://127.3.4.5:9/", want: "http://127.3.4.5:9"},
		{raw: "http://[::1]:8080", want: "http://[::1]:8080"},
		{raw: "http://localhost", want: "http://localhost"},
		{raw: "http://LocalHost:80/", want: "http://LocalHost:80"},
		{raw: "http://example.com", wantErr: "loopback only"},
		{raw: "http://127.0.0.1.example.com", wantErr: "loopback only"},
		{raw: "http://0.0.0.0:80", wantErr: "loopback only"},
		{raw: "ftp://www.concursolutions.com", wantErr: `scheme "ftp"`},
		{raw: "", wantErr: "empty"},
		{raw: "www.concursolutions.com", wantErr: "want an absolute URL"},
		{raw: "https://admin:hunter2@www.concursolutions.com", wantErr: "credentials"},
		{raw: "https://www.concursolutions.com/?token=x", wantErr: "query"},
		{raw: "https://www.concursolutions.com/#x", wantErr: "fragment"},
		{raw: "https://www.concursolutions.com/%zz", wantErr: "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			u, err := CheckBaseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CheckBaseURL(%q) = %v, %v; want an error containing %q", tt.raw, u, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckBaseURL(%q): %v", tt.raw, err)
			}
			if u.String() != tt.want {
				t.Errorf("CheckBaseURL(%q) = %q, want %q", tt.raw, u, tt.want)
			}
		})
	}
}

func TestAPIErrorBehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err              APIError
		retryable, fatal bool
	}{
		{APIError{Status: 401}, false, true},
		{APIError{Status: 403, Message: "The OAuth token has expired or been revoked."}, false, false}, // Suspect: forbidden_test.go
		{APIError{Status: 429}, true, false},
		{APIError{Status: 400, Message: "exceed the request limit"}, true, false},
		{APIError{Status: 400, Message: "Missing required parameter"}, false, false},
		{APIError{Status: 503}, true, false},
		{APIError{Status: 200, Message: "Invalid token"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			if tt.err.Retryable() != tt.retryable || tt.err.Fatal() != tt.fatal {
				t.Errorf("Retryable() = %v, Fatal() = %v; want %v, %v", tt.err.Retryable(), tt.err.Fatal(), tt.retryable, tt.fatal)
			}
		})
	}
}

// FuzzParseReply holds the allow-list's properties over any body, under
// the statuses that reach the lists and for both kinds of row: a body the
// success table does not hold is never revoked; not_found needs Concur's
// Error marker and no negation or word about anything but the target; no
// message is longer than the cap or holds a piece of a secret.
func FuzzParseReply(f *testing.F) {
	for _, seed := range []string{
		"", " ", "{}", "{ }", "OK", `<Error><Message>Invalid token</Message></Error>`, `{"Error":{"Message":"x"}}`,
		`{"Error":null}`, `<html><title>502</title></html>`, `<a><![CDATA[<Error]]></a>`, "\xef\xbb\xbf<Error/>",
		`<Error><Message>Token could not be revoked</Message></Error>`, `{"success":false,"errors":[{"message":"Token revocation failed"}]}`,
		`{"Error":{"Message":"No access tokens found for this user."}}`, "{}\x00", "{}{}", "\xef\xbb\xbf{}\n",
	} {
		f.Add(seed)
	}
	secrets := []string{adminToken, rowToken}
	f.Fuzz(func(t *testing.T, body string) {
		trimmed := strings.TrimSpace(strings.TrimPrefix(body, "\xef\xbb\xbf"))
		onTable := trimmed == "" || len(trimmed) >= 2 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}' &&
			strings.TrimSpace(trimmed[1:len(trimmed)-1]) == ""
		for _, status := range []int{200, 204, 400, 404} {
			for _, kind := range []input.Kind{input.KindToken, input.KindUser} {
				ans := classify(status, http.Header{}, []byte(body), kind, time.Now(), secrets)
				if ans.Status == revoke.Revoked && !onTable {
					t.Fatalf("%d %q counted as revoked: not on the success table", status, body)
				}
				var apiErr *APIError
				if errors.As(ans.Err, &apiErr) {
					if n := len([]rune(apiErr.Message)); n > maxMessage {
						t.Fatalf("message of %d characters, want at most %d", n, maxMessage)
					}
					if strings.Contains(ans.Err.Error(), adminToken) || strings.Contains(ans.Err.Error(), rowToken) {
						t.Fatalf("error %q holds a secret", ans.Err)
					}
				}
				if ans.Status == revoke.NotFound {
					lower := strings.ToLower(apiErr.Message)
					if !strings.Contains(body, "<Error") && !strings.Contains(body, `"Error"`) {
						t.Fatalf("%d %q is not_found without Concur's Error", status, body)
					}
					for _, w := range []string{"could not", "cannot", "unable", "failed", "not revoked", "was not", "consumer", "company", "credential", "applica"} {
						if strings.Contains(lower, w) {
							t.Fatalf("%d %q for a %s row is not_found although its message says %q", status, body, kind, w)
						}
					}
				}
			}
		}
	})
}
