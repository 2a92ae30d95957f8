package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// This file checks issue 10's promise end to end: servers that echo long
// secrets (1–2 KB, as Concur's JWTs are), whole, cut short, escaped, in
// every kind of body and in the ID headers, and not one 24-character piece
// of any secret in anything the job writes.

// leakedPiece returns a piece of endpoint.MinPiece characters of a secret,
// in any form a server or a logger may write it in, that text holds, or "".
func leakedPiece(text string, secrets []string) string {
	return testutil.SecretPiece(text, endpoint.MinPiece, secrets...)
}

// outputs runs the job on input and returns everything it wrote, by name,
// and the outcome file's path.
func outputs(t *testing.T, input string, env map[string]string, wantCode int, args ...string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "out.csv")
	summary, metrics := filepath.Join(dir, "summary.json"), filepath.Join(dir, "metrics.prom")
	args = append([]string{"run", "--rate", "0", "--max-attempts", "3", "--log-level", "debug", "--log-format", "json",
		"--out", out, "--summary", summary, "--metrics-file", metrics}, append(args, in)...)
	res := runMain(t, context.Background(), env, "", args...)
	if res.code != wantCode {
		t.Fatalf("exit %d, want %d:\n%s", res.code, wantCode, res.stderr)
	}
	got := map[string]string{"stdout": res.stdout, "stderr": res.stderr}
	for name, path := range map[string]string{"outcome file": out, "sidecar": journal.MetaPath(out), "summary": summary, "metrics": metrics} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = string(b)
	}
	return got, out
}

func assertNoPiece(t *testing.T, outs map[string]string, secrets []string) {
	t.Helper()
	for name, text := range outs {
		if p := leakedPiece(text, secrets); p != "" {
			t.Errorf("%s holds %q, a piece of a secret", name, p)
		}
	}
}

// echoServer answers each request as answer says, given the request's
// token, how many times that token was seen, and the secret it carried
// (the admin token or the Authorization header).
func echoServer(t *testing.T, path string, answer func(tok string, n int, r *http.Request, w http.ResponseWriter)) string {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		tok := r.Form.Get("token")
		mu.Lock()
		seen[tok]++
		n := seen[tok]
		mu.Unlock()
		answer(tok, n, r, w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + path
}

func TestNoPieceOfALongSecretLeaksFromConcur(t *testing.T) {
	t.Parallel()
	admin := testutil.LongSecret(1, 1229)
	toks := make([]string, 9)
	for i := range toks {
		toks[i] = testutil.LongSecret(uint64(100+i), 1024+i*128)
	}
	secrets := append([]string{admin}, toks...)
	input := "token\n" + strings.Join(toks, "\n") + "\n"

	t.Run("row answers", func(t *testing.T) {
		t.Parallel()
		base := echoServer(t, "", func(tok string, n int, r *http.Request, w http.ResponseWriter) {
			xmlErr := func(status int, msg string) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(status)
				fmt.Fprintf(w, "<Error><Message>%s</Message><Server-Time>2024-05-01T10:00:00</Server-Time><Id>%s</Id></Error>", html.EscapeString(msg), tok[100:190])
			}
			switch tok {
			case toks[0]: // the first 800 bytes of the token, and its start as the correlation ID
				w.Header().Set("Concur-Correlationid", tok[:60])
				xmlErr(200, "Invalid token "+tok[:800])
			case toks[1]: // JSON, query-escaped, the Id a piece
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]any{"Error": map[string]string{"Message": "bad token " + url.QueryEscape(tok), "Id": tok[300:400]}})
			case toks[2]: // plain text: the token and the admin token
				w.Header().Set("Concur-Correlationid", admin[:90])
				w.WriteHeader(200)
				fmt.Fprintf(w, "token %s rejected for %s", tok, admin[:900])
			case toks[3]: // an HTML page with the token in its title
				w.WriteHeader(200)
				fmt.Fprintf(w, "<html><head><title>Sign in as %s</title></head><body>%s</body></html>", tok[:700], admin)
			case toks[4]: // 503s echoing the admin token, then revoked
				if n < 3 {
					w.Header().Set("Retry-After", "0")
					w.Header().Set("Concur-Correlationid", tok[500:580])
					xmlErr(503, "busy with "+tok[200:1000]+" for "+admin)
					return
				}
				w.WriteHeader(200)
			case toks[5]: // HTML-escaped in a 404
				xmlErr(404, "Token not found: "+html.EscapeString(tok))
			case toks[6]: // the token where the read limit cuts the body
				w.WriteHeader(200)
				fmt.Fprint(w, strings.Repeat(" ", endpoint.MaxBody-500)+tok+strings.Repeat("x", 1000))
			case toks[7]: // split by a newline, as a wrapping server writes it
				w.WriteHeader(400)
				fmt.Fprintf(w, "Invalid token %s\n%s", tok[:300], tok[300:])
			default: // JSON with an escaped solidus, cut by the server
				w.WriteHeader(200)
				fmt.Fprintf(w, `{"success":false,"token":"%s"}`, strings.ReplaceAll(tok, "/", `\/`)[:900])
			}
		})
		outs, out := outputs(t, input, map[string]string{EnvAdminToken: admin}, ExitRows, "--base-url", base)
		assertNoPiece(t, outs, secrets)
		got := readOutcomes(t, out)
		if len(got) != len(toks) {
			t.Fatalf("%d outcomes, want %d", len(got), len(toks))
		}
		for i := range toks {
			o := got[int64(i+2)]
			want := revoke.Failed
			if i == 4 {
				want = revoke.Revoked
			}
			if o.Status != want {
				t.Errorf("line %d: %s (%s), want %s", i+2, o.Status, o.Error, want)
			}
			// The server's words are kept, secrets replaced: not dropped.
			if want == revoke.Failed && !strings.Contains(o.Error, "sha256:") {
				t.Errorf("line %d: error %q shows no fingerprint where the server echoed the token", i+2, o.Error)
			}
		}
		if !strings.Contains(outs["stderr"], "busy with [piece of sha256:") {
			t.Errorf("the retries' debug lines do not show the redacted echo:\n%.2000s", outs["stderr"])
		}
	})

	t.Run("a 401 echoing the admin token", func(t *testing.T) {
		t.Parallel()
		base := echoServer(t, "", func(tok string, n int, r *http.Request, w http.ResponseWriter) {
			auth := r.Header.Get("Authorization")
			w.Header().Set("Concur-Correlationid", admin[:80])
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "<Error><Message>The header %s is not accepted; token %s</Message></Error>", auth[:800], url.QueryEscape(admin))
		})
		outs, _ := outputs(t, input, map[string]string{EnvAdminToken: admin}, ExitStopped, "--base-url", base)
		assertNoPiece(t, outs, secrets)
		if !strings.Contains(outs["summary"], "(401)") || !strings.Contains(outs["stderr"], "[piece of sha256:") {
			t.Errorf("the stop is not reported with the redacted message:\nsummary %s\nstderr %.2000s", outs["summary"], outs["stderr"])
		}
	})
}

func TestNoPieceOfALongSecretLeaksFromRFC7009(t *testing.T) {
	t.Parallel()
	clientSecret := testutil.LongSecret(2, 1536)
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(rfcClientID) + ":" + url.QueryEscape(clientSecret)))
	toks := make([]string, 5)
	for i := range toks {
		toks[i] = testutil.LongSecret(uint64(200+i), 1100+i*200)
	}
	secrets := append([]string{clientSecret, basic}, toks...)
	input := "token\n" + strings.Join(toks, "\n") + "\n"
	env := map[string]string{EnvClientSecret: clientSecret}

	t.Run("row answers", func(t *testing.T) {
		t.Parallel()
		u := echoServer(t, "/oauth2/v1/revoke", func(tok string, n int, r *http.Request, w http.ResponseWriter) {
			auth := r.Header.Get("Authorization")
			switch tok {
			case toks[0]: // JSON error description, the request ID a piece of the token
				w.Header().Set("X-Request-Id", tok[:50])
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad " + tok[:800] + " for " + clientSecret[:900]})
			case toks[1]: // an HTML page with the secret in its title
				w.WriteHeader(200)
				fmt.Fprintf(w, "<html><title>Sign in %s</title><body>%s</body></html>", clientSecret, tok)
			case toks[2]: // plain text echoing the Authorization header
				w.WriteHeader(200)
				fmt.Fprintf(w, "unexpected %s with %s", auth, tok[10:900])
			case toks[3]: // 503s with the secret in a request ID, then revoked
				if n < 3 {
					w.Header().Set("Retry-After", "0")
					w.Header().Set("X-Okta-Request-Id", clientSecret[:70])
					w.WriteHeader(503)
					json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "busy with " + tok + " " + url.QueryEscape(clientSecret)})
					return
				}
				w.WriteHeader(200)
			default: // a 200 whose body shows failure, with the token cut by the server
				w.WriteHeader(200)
				fmt.Fprintf(w, `{"success":false,"errors":[{"message":"cannot revoke %s"}]}`, strings.ReplaceAll(tok, "/", `\/`)[:1000])
			}
		})
		outs, out := outputs(t, input, env, ExitRows, "--provider", "rfc7009", "--revoke-url", u, "--client-id", rfcClientID)
		assertNoPiece(t, outs, secrets)
		got := readOutcomes(t, out)
		for i := range toks {
			o := got[int64(i+2)]
			want := revoke.Failed
			if i == 3 {
				want = revoke.Revoked
			}
			if o.Status != want {
				t.Errorf("line %d: %s (%s), want %s", i+2, o.Status, o.Error, want)
			}
			if want == revoke.Failed && !strings.Contains(o.Error, "sha256:") {
				t.Errorf("line %d: error %q shows no fingerprint where the server echoed a secret", i+2, o.Error)
			}
		}
	})

	t.Run("a 401 echoing the client secret", func(t *testing.T) {
		t.Parallel()
		u := echoServer(t, "/oauth2/v1/revoke", func(tok string, n int, r *http.Request, w http.ResponseWriter) {
			w.Header().Set("X-Request-Id", clientSecret[:99])
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
				"error_description": "secret " + clientSecret[:1200] + " in " + r.Header.Get("Authorization")})
		})
		outs, _ := outputs(t, input, env, ExitStopped, "--provider", "rfc7009", "--revoke-url", u, "--client-id", rfcClientID)
		assertNoPiece(t, outs, secrets)
		if !strings.Contains(outs["summary"], "invalid_client") || !strings.Contains(outs["summary"], "[piece of sha256:") {
			t.Errorf("the stop is not reported with the redacted message:\n%s", outs["summary"])
		}
	})
}
