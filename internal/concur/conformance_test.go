package concur_test

import (
	"net/http"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/revoketest"
)

// TestConformance runs the suite every provider must pass.
func TestConformance(t *testing.T) {
	t.Parallel()
	revoketest.Run(t, revoketest.Provider{
		New: func(t testing.TB, e revoketest.Endpoint) revoke.Revoker {
			u, err := concur.CheckBaseURL(e.URL)
			if err != nil {
				t.Fatalf("CheckBaseURL(%q): %v", e.URL, err)
			}
			c, err := concur.New(concur.Config{BaseURL: u, AdminToken: e.Secret, Timeout: e.Timeout, HTTPClient: e.HTTPClient})
			if err != nil {
				t.Fatalf("concur.New: %v", err)
			}
			return c
		},
		// Concur answers a revocation with 200 and an empty body.
		Revoked: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
		},
		CorrelationHeader: concur.CorrelationHeader,
	})
}
