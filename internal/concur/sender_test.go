package concur

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// roundTripFunc is a RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSenderKeepsWhatTheClientAdds checks that calling the transport
// directly (the fast path) is only taken when the http.Client adds nothing:
// a client's own timeout and cookie jar still apply, and a broken transport
// is an answer, not a panic.
func TestSenderKeepsWhatTheClientAdds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func(hits int64, w http.ResponseWriter, r *http.Request)
		client func() *http.Client
		check  func(t *testing.T, second revoke.Answer)
	}{
		{
			name: "client timeout still bounds the request",
			server: func(hits int64, w http.ResponseWriter, r *http.Request) {
				if hits == 2 {
					select { // hang until the client gives up
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				}
			},
			client: func() *http.Client { return &http.Client{Timeout: 200 * time.Millisecond} },
			check: func(t *testing.T, second revoke.Answer) {
				if !second.Retry || second.Err == nil || !strings.Contains(second.Err.Error(), "Client.Timeout") {
					t.Errorf("second answer = %+v, want a retryable failure from the client's own timeout", second)
				}
			},
		},
		{
			name: "cookie jar still carries the server's cookie",
			server: func(hits int64, w http.ResponseWriter, r *http.Request) {
				if hits == 1 {
					http.SetCookie(w, &http.Cookie{Name: "affinity", Value: "node-7"})
					return
				}
				if c, err := r.Cookie("affinity"); err != nil || c.Value != "node-7" {
					w.WriteHeader(http.StatusBadRequest) // no cookie: not the same session
				}
			},
			client: func() *http.Client {
				jar, _ := cookiejar.New(nil)
				return &http.Client{Jar: jar}
			},
			check: func(t *testing.T, second revoke.Answer) {
				if second.Status != revoke.Revoked {
					t.Errorf("second answer = %+v, want revoked: the jar's cookie was not sent", second)
				}
			},
		},
		{
			name:   "plain client takes the fast path and still revokes",
			server: func(int64, http.ResponseWriter, *http.Request) {},
			client: func() *http.Client { return &http.Client{} },
			check: func(t *testing.T, second revoke.Answer) {
				if second.Status != revoke.Revoked || second.HTTPStatus != http.StatusOK {
					t.Errorf("second answer = %+v, want revoked with 200", second)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.server(hits.Add(1), w, r)
			}))
			defer srv.Close()
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.HTTPClient = tt.client() })
			if first := c.Revoke(context.Background(), tokenRow); first.Status != revoke.Revoked {
				t.Fatalf("first answer = %+v, want revoked", first)
			}
			second := c.Revoke(context.Background(), tokenRow)
			assertNoSecret(t, second.Err)
			tt.check(t, second)
		})
	}
}

func TestSenderRefusesABrokenTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *http.Response
	}{
		{"nil response, nil error", nil},
		{"response without a body", &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := roundTripFunc(func(*http.Request) (*http.Response, error) { return tt.resp, nil })
			c := newTestClient(t, "https://www.concursolutions.com", func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: rt} })
			ans := c.Revoke(context.Background(), tokenRow)
			if ans.Status != revoke.Failed || !ans.Retry || ans.Err == nil {
				t.Errorf("answer = %+v, want a retryable failure, never revoked", ans)
			}
		})
	}
}
