package rfc7009_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/revoketest"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

// TestConformance runs the suite every provider must pass, once for each
// way of authenticating the client.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{rfc7009.AuthBasic, rfc7009.AuthPost} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			revoketest.Run(t, provider(auth))
		})
	}
}

func provider(auth string) revoketest.Provider {
	return revoketest.Provider{
		New: func(t testing.TB, e revoketest.Endpoint) revoke.Revoker {
			u, err := url.Parse(e.URL + "/oauth2/v1/revoke")
			if err != nil {
				t.Fatal(err)
			}
			c, err := rfc7009.New(rfc7009.Config{RevokeURL: u, ClientID: "bulk:revoker+1", ClientSecret: e.Secret,
				ClientAuth: auth, Timeout: e.Timeout, HTTPClient: e.HTTPClient})
			if err != nil {
				t.Fatalf("rfc7009.New: %v", err)
			}
			return c
		},
		// RFC 7009 §2.2: 200, whether or not the token existed; the body
		// is empty in practice.
		Revoked:           func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
		CorrelationHeader: "X-Request-Id",
	}
}
