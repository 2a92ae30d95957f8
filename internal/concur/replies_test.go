package concur

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

var userRow = input.Row{Line: 9, Kind: input.KindUser, User: "vicky@example.com", ConsumerKey: "eZByXv2X41cJlC21pSVvRi"}

// concurError is Concur's documented error body.
func concurError(msg string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Error><Message>` + msg + `</Message><Server-Time>2024-05-01T10:00:00</Server-Time><Id>ERR-1</Id></Error>`
}

// concurJSONError is the same in JSON, as Concur sends it when asked.
func concurJSONError(msg string) string {
	return `{"Error":{"Message":"` + msg + `","Server-Time":"2024-05-01T10:00:00","Id":"ERR-2"}}`
}

const loginPage = `<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action="/sso">…</form></body></html>`

// TestReplyShapes is the allow-list's regression table: every shape below
// goes through a real server and the real client, and only the listed
// success shapes are revoked, only Concur's Error saying the row's target
// is gone is not_found. Every other answer that is neither retried nor
// fatal must say it was not counted.
func TestReplyShapes(t *testing.T) {
	t.Parallel()
	type want struct {
		status       revoke.Status
		retry, fatal bool
		// suspect: a 403, which the pool settles with a probe (fatal
		// unless the administrator's token is shown to work).
		suspect bool
		errHas  string
	}
	var (
		revoked  = want{status: revoke.Revoked}
		notFound = want{status: revoke.NotFound}
		failed   = want{status: revoke.Failed}
		retried  = want{status: revoke.Failed, retry: true}
		fatal    = want{status: revoke.Failed, fatal: true}
		suspect  = want{status: revoke.Failed, suspect: true}
		with     = func(w want, errHas string) want { w.errHas = errHas; return w }
	)
	blanks := strings.Repeat(" ", endpoint.MaxBody)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		user   bool // a user row, else a token row
		want   want
	}{
		// The success table, and what is near it but not on it.
		{name: "200 empty", status: 200, want: revoked},
		{name: "200 blanks only", status: 200, body: " \r\n\t ", want: revoked},
		{name: "204", status: 204, want: revoked},
		{name: "200 a BOM only", status: 200, body: "\xef\xbb\xbf", want: revoked},
		{name: "200 {}", status: 200, body: "{}", want: revoked},
		{name: "200 { } with blanks", status: 200, body: "\n{ \n }\n", want: revoked},
		{name: "200 empty for a user row", status: 200, user: true, want: revoked},
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
		{name: "299 Concur's Error saying invalid token", status: 299, body: concurError("Invalid token"), want: failed},
		{name: "202 Concur's Error saying invalid token", status: 202, body: concurError("Invalid token"), want: failed},
		{name: "200 []", status: 200, body: "[]", want: failed},
		{name: "200 OK as text", status: 200, body: "OK", want: with(failed, "OK")},
		{name: "200 true as text", status: 200, body: "true", want: failed},
		{name: `200 {"success":true}`, status: 200, body: `{"success":true}`, want: failed},
		{name: "200 an XML result saying success", status: 200, body: `<Result><Status>Success</Status></Result>`, want: failed},
		{name: "200 an XML declaration only", status: 200, body: `<?xml version="1.0" encoding="utf-8"?>`, want: failed},
		{name: "201 a body", status: 201, body: `{"id":"x"}`, want: failed},

		// Messages that mention revoking in every sense.
		{name: "400 token could not be revoked", status: 400, body: concurError("Token could not be revoked"), want: with(failed, "Token could not be revoked")},
		{name: "200 not revoked", status: 200, body: concurError("Not revoked"), want: with(failed, "Not revoked")},
		{name: "200 token was not revoked", status: 200, body: concurError("The token was not revoked."), want: failed},
		{name: "200 token cannot be revoked", status: 200, body: concurError("This token cannot be revoked"), want: failed},
		{name: "200 unable to revoke", status: 200, body: concurError("Unable to revoke the token"), want: failed},
		{name: "200 failed to revoke", status: 200, body: concurError("Failed to revoke token"), want: failed},
		{name: "200 revocation failed: token invalid", status: 200, body: concurError("Revocation failed: token invalid"), want: failed},
		{name: "200 token is not expired", status: 200, body: concurError("Token is not expired"), want: failed},
		{name: "200 token has not been revoked", status: 200, body: concurError("Token has not been revoked"), want: failed},
		{name: "200 token revoked successfully as text", status: 200, body: "Token revoked successfully", want: failed},
		{name: "200 revoked as text", status: 200, body: "revoked", want: failed},
		{name: `200 {"status":"revoked"}`, status: 200, body: `{"status":"revoked"}`, want: failed},
		{name: `200 {"revoked":true}`, status: 200, body: `{"revoked":true}`, want: failed},
		{name: `200 {"revoked":false}`, status: 200, body: `{"revoked":false}`, want: failed},
		{name: "200 a Message saying revoked, not in an Error", status: 200, body: `<Response><Message>Token revoked</Message></Response>`, want: with(failed, "Token revoked")},
		{name: "200 Error saying the token is revoked", status: 200, body: concurError("Token revoked"), want: notFound},
		{name: "200 the admin's expired-or-revoked message", status: 200, body: concurError("The OAuth token has expired or been revoked."), want: failed},

		// Messages that say the token is gone.
		{name: "200 invalid token", status: 200, body: concurError("Invalid token."), want: with(notFound, "Invalid token.")},
		{name: "400 invalid token", status: 400, body: concurError("Invalid token"), want: notFound},
		{name: "400 already revoked", status: 400, body: concurError("The token has already been revoked"), want: notFound},
		{name: "200 JSON token not found", status: 200, body: concurJSONError("Token not found"), want: notFound},
		{name: "400 token expired", status: 400, body: concurError("Token expired"), want: notFound},
		{name: "404 unknown access token", status: 404, body: concurError("Unknown access token"), want: notFound},
		{name: "200 token does not exist", status: 200, body: concurError("The token does not exist."), want: notFound},
		{name: "200 expired or revoked", status: 200, body: concurError("Token has expired or been revoked"), want: notFound},
		{name: "200 invalid token with the token echoed", status: 200, body: concurError("Invalid token " + rowToken), want: failed},
		{name: "200 invalid token for a user row", status: 200, body: concurError("Invalid token."), user: true, want: failed},
		{name: "200 user not found for a token row", status: 200, body: concurError("User not found"), want: failed},

		// User rows: the key, the application, the company, the credentials.
		{name: "400 invalid consumerKey", status: 400, body: concurError("Invalid consumerKey"), user: true, want: with(failed, "Invalid consumerKey")},
		{name: "200 invalid user or consumer key", status: 200, body: concurError("Invalid user or consumer key: no access tokens found."), user: true, want: failed},
		{name: "200 unknown application", status: 200, body: concurError("Unknown application"), user: true, want: failed},
		{name: "200 company not enabled", status: 200, body: concurError("Company is not enabled for this operation"), user: true, want: failed},
		{name: "200 invalid credentials", status: 200, body: concurError("Invalid credentials"), user: true, want: failed},
		{name: "200 client_id is invalid", status: 200, body: concurError("client_id is invalid"), user: true, want: failed},
		{name: "200 no tokens found for the user", status: 200, body: concurError("No access tokens found for this user."), user: true, want: notFound},
		{name: "200 user not found", status: 200, body: concurError("User not found"), user: true, want: notFound},
		{name: "400 unknown user", status: 400, body: concurJSONError("Unknown user"), user: true, want: notFound},
		{name: "200 user has no tokens, could not revoke", status: 200, body: concurError("User has no tokens; could not revoke"), user: true, want: failed},

		// Other APIs' error shapes.
		{name: "200 errors array with success false", status: 200, body: `{"success":false,"errors":[{"message":"Token revocation failed"}]}`, want: with(failed, "Token revocation failed")},
		{name: `200 {"status":"error"}`, status: 200, body: `{"status":"error"}`, want: with(failed, `{"status":"error"}`)},
		{name: "200 Apigee fault", status: 200, body: `{"fault":{"faultstring":"Invalid access token","detail":{"errorcode":"oauth.v2.InvalidAccessToken"}}}`, want: failed},
		{name: "200 SOAP Fault", status: 200,
			body: `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Token revocation failed</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
			want: with(failed, "Token revocation failed")},
		{name: "200 <errors>", status: 200, body: `<errors><error><message>Invalid token</message></error></errors>`, want: failed},
		{name: `200 {"error":"invalid_token"}`, status: 200, body: `{"error":"invalid_token"}`, want: failed},
		{name: `200 the loose {"Error":"…"}`, status: 200, body: `{"Error":"Invalid token"}`, want: failed},
		{name: `200 a bare {"Message":…}`, status: 200, body: `{"Message":"Invalid token"}`, want: failed},
		{name: "200 Concur's JSON Error with another key", status: 200, body: `{"Error":{"Message":"Invalid token"},"success":false}`, want: failed},
		{name: "200 Concur's JSON Error with another inner key", status: 200, body: `{"Error":{"Message":"Invalid token","Status":"OK"}}`, want: failed},
		{name: "200 Concur's JSON Error with Message twice", status: 200, body: `{"Error":{"Message":"Token could not be revoked","Message":"Invalid token"}}`, want: failed},
		{name: "400 Concur's JSON Error with Message twice, other case", status: 400, body: `{"Error":{"message":"Token could not be revoked","MESSAGE":"Invalid token"}}`, want: failed},
		{name: "200 Concur's JSON Error twice, other case", status: 200, body: `{"ERROR":{"Message":"Token could not be revoked"},"Error":{"Message":"Invalid token"}}`, want: failed},
		{name: "200 Concur's JSON Error with Id twice", status: 200, body: `{"Error":{"Message":"Invalid token","Id":"a","id":"b"}}`, want: failed},
		{name: "200 Concur's JSON Error with Server-Time twice, one with a long s", status: 200, body: `{"Error":{"Message":"Invalid token","Server-Time":"x","ſerver-Time":"y"}}`, want: failed},
		{name: "200 Concur's JSON Error then text", status: 200, body: concurJSONError("Invalid token") + " x", want: failed},
		{name: "200 a lower-case error object", status: 200, body: `{"error":{"message":"Invalid token"}}`, want: failed},
		{name: "200 Concur's Error with another child", status: 200, body: `<Error><Message>Invalid token</Message><Status>OK</Status></Error>`, want: failed},
		{name: "200 two Error documents", status: 200, body: concurError("Invalid token") + concurError("Internal error"), want: failed},
		{name: "200 XML Error with an element inside Message", status: 200, body: `<Error><Message>Invalid token<b>not really</b></Message></Error>`, want: failed},
		{name: "200 XML Error with an empty element inside Message", status: 200, body: `<Error><Message>Invalid token<br/></Message></Error>`, want: failed},
		{name: "200 XML Error with an element inside Id", status: 200, body: `<Error><Message>Invalid token</Message><Id>1<x>2</x></Id></Error>`, want: failed},
		{name: "200 XML Error with an attribute", status: 200, body: `<Error revoked="no"><Message>Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error whose Message has an attribute", status: 200, body: `<Error><Message lang="x" revoked="no">Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error whose Message is in a namespace", status: 200, body: `<Error><Message xmlns="urn:other">Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error whose Message has a prefix", status: 200, body: `<Error xmlns:o="urn:other"><o:Message>Invalid token</o:Message></Error>`, want: failed},
		{name: "200 XML Error with a default namespace", status: 200, body: `<Error xmlns="urn:other"><Message>Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error with Message twice", status: 200, body: `<Error><Message>Token could not be revoked</Message><Message>Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error with a processing instruction inside", status: 200, body: `<Error><?x y?><Message>Invalid token</Message></Error>`, want: failed},
		{name: "200 XML Error with a comment inside", status: 200, body: `<Error><!-- c --><Message>Invalid token</Message></Error>`, want: notFound},
		{name: "200 XML Error with CDATA", status: 200, body: `<Error><Message><![CDATA[Invalid token]]></Message></Error>`, want: notFound},
		{name: "200 an Error in a namespace", status: 200, body: `<ns:Error xmlns:ns="urn:x"><Message>Invalid token</Message></ns:Error>`, want: failed},
		{name: "200 an Error inside another root", status: 200, body: `<Response><Error><Message>Token not found</Message></Error></Response>`, want: failed},
		{name: "200 an Error cut short", status: 200, body: `<Error><Message>Invalid token</Message><Id>X`, want: failed},
		{name: "200 an Error then text", status: 200, body: concurError("Invalid token") + " trailing", want: failed},

		// Pages, padded and late.
		{name: "200 login page", status: 200, header: map[string]string{"Content-Type": "text/html"}, body: loginPage, want: with(failed, "Sign in")},
		{name: "200 64 KiB of blanks then a login page", status: 200, body: blanks + loginPage, want: with(failed, "not read whole")},
		{name: "200 blanks up to the limit then a login page", status: 200, body: blanks[:endpoint.MaxBody-len(loginPage)] + loginPage, want: with(failed, "Sign in")},
		{name: "200 a login page after 2 KiB of comment", status: 200, body: "<!--" + strings.Repeat(" banner ", 256) + "-->" + loginPage, want: failed},
		{name: "200 {} then 64 KiB of blanks", status: 200, body: "{}" + blanks, want: with(failed, "not read whole")},
		{name: "200 a body over the limit", status: 200, body: strings.Repeat("x", 3*endpoint.MaxBody), want: with(failed, "not read whole")},
		{name: "400 invalid token then 64 KiB of blanks", status: 400, body: concurError("Invalid token") + blanks, want: with(failed, "not read whole")},
		{name: "200 an Error then a page", status: 200, body: concurError("Invalid token") + loginPage, want: failed},
		{name: "404 IIS page", status: 404, body: "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head></html>", want: with(failed, "File or directory not found")},
		{name: "302 to a login page", status: 302, header: map[string]string{"Location": "https://sso.example.com/"}, want: with(failed, "302 Found")},

		// Statuses with a meaning of their own, as before.
		{name: "401", status: 401, body: concurError("The Authorization header is missing."), want: with(fatal, "(401)")},
		{name: "403", status: 403, body: concurError("The OAuth token has expired or been revoked."), want: with(suspect, "403 Forbidden")},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "1"}, want: retried},
		{name: "503 maintenance", status: 503, body: concurError("The service is unavailable for maintenance."), want: retried},
		{name: "500 page", status: 500, body: loginPage, want: retried},
		{name: "400 request limit", status: 400, body: concurError("The number of requests received exceed the request limit."), want: retried},
		{name: "200 Error rate limit", status: 200, body: concurJSONError("Rate limit reached"), want: retried},
	}
	var tokenRows, userRows int
	for _, tt := range tests {
		if tt.user {
			userRows++
		} else {
			tokenRows++
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			row := tokenRow
			if tt.user {
				row = userRow
			}
			got := newTestClient(t, srv.URL, nil).Revoke(context.Background(), row)

			if got.Status != tt.want.status || got.Retry != tt.want.retry || got.Fatal != tt.want.fatal || got.Suspect != tt.want.suspect {
				t.Errorf("got %s retry=%v fatal=%v suspect=%v, want %s retry=%v fatal=%v suspect=%v (err: %v)",
					got.Status, got.Retry, got.Fatal, got.Suspect, tt.want.status, tt.want.retry, tt.want.fatal, tt.want.suspect, got.Err)
			}
			if (got.Status == revoke.Revoked) != (got.Err == nil) {
				t.Errorf("status %s with error %v", got.Status, got.Err)
			}
			unrecognised := got.Status == revoke.Failed && !got.Retry && !got.Fatal && !got.Suspect
			if got.Err != nil && strings.Contains(got.Err.Error(), revoke.Unrecognised) != unrecognised {
				t.Errorf("error %q: want it to say %q exactly when the answer is failed, neither retried nor fatal", got.Err, revoke.Unrecognised)
			}
			if tt.want.errHas != "" && (got.Err == nil || !strings.Contains(got.Err.Error(), tt.want.errHas)) {
				t.Errorf("error %v, want it to contain %q", got.Err, tt.want.errHas)
			}
			var apiErr *APIError
			if got.Err != nil && (!errors.As(got.Err, &apiErr) || len([]rune(apiErr.Message)) > maxMessage) {
				t.Errorf("error %T %v: want an *APIError with a message of at most %d characters", got.Err, got.Err, maxMessage)
			}
			assertNoSecret(t, got.Err)
		})
	}
	if tokenRows < 40 {
		t.Errorf("%d token-row shapes, want at least 40", tokenRows)
	}
	t.Logf("%d reply shapes: %d for token rows, %d for user rows", len(tests), tokenRows, userRows)
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
	_, section, _ := bytes.Cut(readme, []byte("## Calls and what their answers mean"))
	section, _, _ = bytes.Cut(section, []byte("\n## "))
	for _, shape := range successShapes {
		if !bytes.Contains(section, []byte(shape.name)) {
			t.Errorf("docs/ANSWERS.md's Concur answer table does not name the success shape %q", shape.name)
		}
	}
}
