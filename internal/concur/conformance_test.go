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
		KnownFailures: map[string]string{
			"unrecognised 2xx/JSON success false":                           allowList,
			"unrecognised 2xx/JSON status error":                            allowList,
			"unrecognised 2xx/SOAP fault":                                   allowList,
			"unrecognised 2xx/XML errors list":                              allowList,
			"unrecognised 2xx/HTML page after 70 KiB of blanks":             allowList,
			"unrecognised 2xx/empty JSON object padded past the read limit": allowList,
			"echoed secret/plain text/long secrets":                         redactBeforeCut,
			"echoed secret/HTML page/short secrets":                         htmlEntities,
		},
	})
}

// Why the cases in KnownFailures fail today; remove each entry once the
// change named lands (the suite then says so).
const (
	allowList = "any 2xx without an Error element is revoked; " +
		"fixed by the allow-list (issue 9 item 1)"
	redactBeforeCut = "a plain-text body is cut to 800 bytes before redaction, so a 1 KB token echoed in it leaks its start; " +
		"fixed by redacting before any cut (issue 10 item 6)"
	htmlEntities = "an HTML title is redacted without decoding its entities, so a secret with & < > ' or \" escaped by the page " +
		"leaks the pieces between them"
)
