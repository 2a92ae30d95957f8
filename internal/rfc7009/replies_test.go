package rfc7009

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const loginPage = `<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action="/sso">…</form></body></html>`

// TestReplyShapes is the allow-list's regression table: every shape below
// goes through a real server and the real client, and only the listed
// success shapes are revoked. Every other answer that is neither retried
// nor fatal must say it was not counted.
func TestReplyShapes(t *testing.T) {
	t.Parallel()
	type want struct {
		status       revoke.Status
		retry, fatal bool
		errHas       string
	}
	var (
		revoked = want{status: revoke.Revoked}
		failed  = want{status: revoke.Failed}
		retried = want{status: revoke.Failed, retry: true}
		fatal   = want{status: revoke.Failed, fatal: true}
		with    = func(w want, errHas string) want { w.errHas = errHas; return w }
	)
	blanks := strings.Repeat(" ", endpoint.MaxBody)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   want
	}{
		// The success table (RFC 7009 §2.2: 200, revoked or never valid),
		// and what is near it but not on it.
		{name: "200 empty", status: 200, want: revoked},
		{name: "200 a newline", status: 200, body: "\n", want: revoked},
		{name: "204", status: 204, want: revoked},
		{name: "200 {}", status: 200, header: map[string]string{"Content-Type": "application/json"}, body: "{}", want: revoked},
		{name: "200 { } after a BOM", status: 200, body: "\xef\xbb\xbf{ }\r\n", want: revoked},
		{name: "200 null", status: 200, body: "null", want: failed},
		{name: "200 a no-break space only", status: 200, body: "\u00a0", want: failed},
		{name: "200 an ideographic space only", status: 200, body: "\u3000", want: failed},
		{name: "200 a line separator only", status: 200, body: " \u2028\n", want: failed},
		{name: "200 a BOM then a no-break space", status: 200, body: "\xef\xbb\xbf\u00a0", want: failed},
		{name: "200 {} around a no-break space", status: 200, body: "{\u00a0}", want: failed},
		{name: "200 {} then an ideographic space", status: 200, body: "{}\u3000", want: failed},
		{name: "200 a vertical tab and a form feed", status: 200, body: "\v\f", want: failed},
		{name: "299 empty", status: 299, want: failed},
		{name: "299 {}", status: 299, body: "{}", want: failed},
		{name: "202 empty", status: 202, want: failed},
		{name: "206 empty", status: 206, want: failed},
		{name: "201 empty", status: 201, want: failed},
		{name: "200 []", status: 200, body: "[]", want: failed},
		{name: "200 OK as text", status: 200, body: "OK", want: with(failed, "OK")},
		{name: `200 {"success":true}`, status: 200, body: `{"success":true}`, want: failed},
		{name: `200 {"":""}`, status: 200, body: `{"":""}`, want: failed},
		{name: "200 two empty objects", status: 200, body: `{}{}`, want: failed},
		{name: `200 {"active":false}, introspection's answer`, status: 200, body: `{"active":false}`, want: failed},

		// A 200 whose body shows failure.
		{name: `200 {"success":false}`, status: 200, body: `{"success":false}`, want: with(failed, `{"success":false}`)},
		{name: "200 errors array with success false", status: 200, body: `{"success":false,"errors":[{"message":"Token revocation failed"}]}`, want: with(failed, "Token revocation failed")},
		{name: `200 {"error":"invalid_token"}`, status: 200, body: `{"error":"invalid_token"}`, want: with(failed, "invalid_token")},
		{name: "200 Google's error object", status: 200, body: `{"error":{"code":500,"message":"Backend Error","status":"INTERNAL"}}`, want: failed},
		{name: `200 {"status":"error"}`, status: 200, body: `{"status":"error","message":"revocation failed"}`, want: with(failed, "revocation failed")},
		{name: "200 Apigee fault", status: 200, body: `{"fault":{"faultstring":"Invalid access token"}}`, want: with(failed, "Invalid access token")},
		{name: "200 Okta error array", status: 200, body: `{"errors":[{"errorCode":"E0000001"}]}`, want: failed},
		{name: "200 Okta error summary", status: 200, body: `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`, want: with(failed, "Invalid token provided")},
		{name: "200 SOAP Fault", status: 200,
			body: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultstring>Token revocation failed</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			want: with(failed, "Token revocation failed")},
		{name: "200 <errors>", status: 200, body: `<errors><error>Invalid token</error></errors>`, want: with(failed, "Invalid token")},
		{name: "200 an XML revoked element", status: 200, body: `<?xml version="1.0"?><revoked/>`, want: failed},
		{name: "200 an error description only", status: 200, body: `{"error_description":"token not revoked"}`, want: with(failed, "token not revoked")},

		// Messages that mention revoking in every sense.
		{name: "200 revoked as text", status: 200, body: "revoked", want: failed},
		{name: "200 token revoked as text", status: 200, body: "Token revoked", want: failed},
		{name: `200 {"revoked":true}`, status: 200, body: `{"revoked":true}`, want: failed},
		{name: `200 {"status":"revoked"}`, status: 200, body: `{"status":"revoked"}`, want: failed},
		{name: `200 {"message":"token could not be revoked"}`, status: 200, body: `{"message":"token could not be revoked"}`, want: with(failed, "could not be revoked")},
		{name: "200 an error whose description says revoked", status: 200, body: `{"error":"server_error","error_description":"Token revoked"}`, want: failed},
		{name: "400 already revoked", status: 400, body: `{"error":"invalid_request","error_description":"token already revoked"}`, want: with(failed, "token already revoked")},

		// Pages, padded and late.
		{name: "200 login page", status: 200, header: map[string]string{"Content-Type": "text/html"}, body: loginPage, want: with(failed, "Sign in")},
		{name: "200 64 KiB of blanks then a login page", status: 200, body: blanks + loginPage, want: with(failed, "not read whole")},
		{name: "200 blanks up to the limit then a login page", status: 200, body: blanks[:endpoint.MaxBody-len(loginPage)] + loginPage, want: with(failed, "Sign in")},
		{name: "200 {} then 64 KiB of blanks", status: 200, body: "{}" + blanks, want: with(failed, "not read whole")},
		{name: "200 a body over the limit", status: 200, body: strings.Repeat("x", 3*endpoint.MaxBody), want: with(failed, "not read whole")},
		{name: "200 {} then a page", status: 200, body: "{}" + loginPage, want: failed},

		// Errors RFC 6749 and 7009 name, and other statuses.
		{name: "400 unsupported_token_type", status: 400, body: `{"error":"unsupported_token_type"}`, want: with(failed, "unsupported_token_type")},
		{name: "400 invalid_request", status: 400, body: `{"error":"invalid_request"}`, want: with(failed, "invalid_request")},
		{name: "400 invalid_token, as Google answers an unknown token", status: 400, body: `{"error":"invalid_token","error_description":"Token expired or revoked"}`, want: failed},
		{name: "403 unauthorized_client", status: 403, body: `{"error":"unauthorized_client"}`, want: with(failed, "unauthorized_client")},
		{name: "404 page", status: 404, body: "<html><title>Not Found</title></html>", want: with(failed, "Not Found")},
		{name: "302 to a login page", status: 302, header: map[string]string{"Location": "https://login.example.com/"}, want: with(failed, "302 Found")},
		{name: "401 invalid_client", status: 401, body: `{"error":"invalid_client"}`, want: with(fatal, "(invalid_client)")},
		{name: "401 empty", status: 401, want: with(fatal, "(HTTP 401)")},
		{name: "400 invalid_client", status: 400, body: `{"error":"invalid_client"}`, want: fatal},
		{name: "200 invalid_client", status: 200, body: `{"error":"invalid_client"}`, want: fatal},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "1"}, want: retried},
		{name: "503 temporarily_unavailable", status: 503, body: `{"error":"temporarily_unavailable"}`, want: retried},
		{name: "500 text", status: 500, body: "oops", want: retried},
		{name: "502 page", status: 502, body: "<html><head><title>502 Bad Gateway</title></head></html>", want: retried},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, hits, _ := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			got := newClient(t, u, nil).Revoke(context.Background(), tokenRow(testToken, ""))

			if hits.Load() != 1 {
				t.Errorf("%d requests, want 1", hits.Load())
			}
			if got.Status != tt.want.status || got.Retry != tt.want.retry || got.Fatal != tt.want.fatal {
				t.Errorf("got %s retry=%v fatal=%v, want %s retry=%v fatal=%v (err: %v)",
					got.Status, got.Retry, got.Fatal, tt.want.status, tt.want.retry, tt.want.fatal, got.Err)
			}
			if (got.Status == revoke.Revoked) != (got.Err == nil) {
				t.Errorf("status %s with error %v", got.Status, got.Err)
			}
			unrecognised := got.Status == revoke.Failed && !got.Retry && !got.Fatal
			if got.Err != nil && strings.Contains(got.Err.Error(), revoke.Unrecognised) != unrecognised {
				t.Errorf("error %q: want it to say %q exactly when the answer is failed, neither retried nor fatal", got.Err, revoke.Unrecognised)
			}
			if tt.want.errHas != "" && (got.Err == nil || !strings.Contains(got.Err.Error(), tt.want.errHas)) {
				t.Errorf("error %v, want it to contain %q", got.Err, tt.want.errHas)
			}
			var apiErr *APIError
			if got.Err != nil && (!errors.As(got.Err, &apiErr) || len([]rune(apiErr.Description)) > maxDescription) {
				t.Errorf("error %T %v: want an *APIError with a description of at most %d characters", got.Err, got.Err, maxDescription)
			}
			assertNoSecret(t, got.Err)
		})
	}
	if len(tests) < 40 {
		t.Errorf("%d reply shapes, want at least 40", len(tests))
	}
	t.Logf("%d reply shapes", len(tests))
}

// TestSuccessShapesAreInTheAnswersDoc keeps the answer table of
// docs/ANSWERS.md the allow-list: every success shape the code holds is
// named there.
func TestSuccessShapesAreInTheAnswersDoc(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../docs/ANSWERS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := bytes.Cut(readme, []byte("## RFC 7009 endpoints"))
	section, _, _ = bytes.Cut(section, []byte("\n## "))
	for _, shape := range successShapes {
		if !bytes.Contains(section, []byte(shape.name)) {
			t.Errorf("docs/ANSWERS.md's RFC 7009 answer table does not name the success shape %q", shape.name)
		}
	}
}

// FuzzClassify holds the allow-list's properties over any body, under the
// statuses that reach it: a body the success table does not hold is never
// revoked; only 401 or invalid_client is fatal, only 429 and 5xx retried;
// no description is longer than its cap or holds a secret.
func FuzzClassify(f *testing.F) {
	for _, seed := range []string{
		"", "\n", "{}", "{ }", "\xef\xbb\xbf{}", "OK", "null", `{"success":false}`, `{"error":"invalid_client"}`,
		`{"error":"invalid_request","error_description":"x"}`, `{"error":{"code":1}}`, loginPage, "{}{}", "{}\x00",
	} {
		f.Add(seed)
	}
	secrets := []string{testToken, testSecret}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		trimmed := strings.TrimSpace(strings.TrimPrefix(body, "\xef\xbb\xbf"))
		onTable := trimmed == "" || len(trimmed) >= 2 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}' &&
			strings.TrimSpace(trimmed[1:len(trimmed)-1]) == ""
		for _, status := range []int{200, 204, 400, 401, 403, 429, 503} {
			ans := classify(status, http.Header{}, []byte(body), now, secrets)
			if ans.Status == revoke.Revoked && !(onTable && status < 300) {
				t.Fatalf("%d %q counted as revoked: not on the success table", status, body)
			}
			if ans.Fatal && status != 401 && !strings.Contains(body, "invalid_client") {
				t.Fatalf("%d %q is fatal", status, body)
			}
			if ans.Retry != (status == 429 || status >= 500) && !ans.Fatal {
				t.Fatalf("%d %q: retry %v", status, body, ans.Retry)
			}
			var apiErr *APIError
			if errors.As(ans.Err, &apiErr) {
				if n := len([]rune(apiErr.Description)); n > maxDescription {
					t.Fatalf("description of %d characters, want at most %d", n, maxDescription)
				}
				if n := len([]rune(apiErr.Code)); n > maxCode {
					t.Fatalf("code of %d characters, want at most %d", n, maxCode)
				}
				for _, s := range secrets {
					if strings.Contains(ans.Err.Error(), s) {
						t.Fatalf("error %q holds a secret", ans.Err)
					}
				}
			}
		}
	})
}
