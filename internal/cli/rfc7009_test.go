package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

const (
	rfcClientID = "bulk-revoker"
	// A secret with the characters that RFC 6749 §2.3.1's encoding is for.
	rfcSecret = "CLIENT-secret+/=&:9f3a"
)

// rfcServer is a scripted RFC 7009 endpoint: it checks the client's
// credentials the way the client authentication method says, then answers
// each token as its script says (200 by default).
type rfcServer struct {
	url    string
	hits   atomic.Int64
	mu     sync.Mutex
	seen   map[string]int // requests per token
	script func(n int, token string, w http.ResponseWriter) bool
}

func newRFCServer(t *testing.T, script func(n int, token string, w http.ResponseWriter) bool) *rfcServer {
	t.Helper()
	s := &rfcServer{seen: map[string]int{}, script: script}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.url = ts.URL + "/oauth2/v1/revoke"
	return s
}

func (s *rfcServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
	}
	w.Header().Set("Content-Type", "application/json")
	if id != rfcClientID || secret != rfcSecret {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"Client authentication failed."}`)
		return
	}
	token := r.PostForm.Get("token")
	s.mu.Lock()
	s.seen[token]++
	n := s.seen[token]
	s.mu.Unlock()
	if s.script != nil && s.script(n, token, w) {
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *rfcServer) requests(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[token]
}

// TestRFC7009NoSecretLeaks runs every kind of answer at debug level, in both
// client authentication modes, and looks for the client secret and the
// tokens everywhere the job writes.
func TestRFC7009NoSecretLeaks(t *testing.T) {
	t.Parallel()
	tokens := map[string]string{
		"live":        "tok-SECRET-live-0001",
		"flaky":       "tok-SECRET-flaky-0002",
		"unsupported": "tok-SECRET-refresh-0003",
		"throttled":   "tok-SECRET-slow-0004",
		"bad":         "tok SECRET bad",
	}
	for _, auth := range []string{"basic", "post"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			srv := newRFCServer(t, func(n int, token string, w http.ResponseWriter) bool {
				// A careless server echoes the token back.
				echo := func(status int, code string) {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(status)
					json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "cannot handle " + token})
				}
				switch {
				case token == tokens["flaky"] && n < 3:
					echo(http.StatusServiceUnavailable, "temporarily_unavailable")
				case token == tokens["throttled"] && n < 2:
					echo(http.StatusTooManyRequests, "slow_down")
				case token == tokens["unsupported"]:
					echo(http.StatusBadRequest, "unsupported_token_type")
				default:
					return false
				}
				return true
			})
			dir := t.TempDir()
			in := writeFile(t, dir, "in.jsonl", `{"token":"`+tokens["live"]+`","token_type_hint":"access_token"}
{"token":"`+tokens["flaky"]+`"}
{"token":"`+tokens["unsupported"]+`","token_type_hint":"refresh_token"}
{"token":"`+tokens["throttled"]+`"}
{"token":"`+tokens["bad"]+`"}
{"user":"ann@example.com","consumerKey":"ck-1"}
{"token":"`+tokens["live"]+`"}
`)
			out := filepath.Join(dir, "out.jsonl")
			res := runMain(t, context.Background(), map[string]string{EnvClientSecret: rfcSecret}, "",
				"run", "--provider", "rfc7009", "--revoke-url", srv.url, "--client-id", rfcClientID, "--client-auth", auth,
				"--rate", "0", "--log-level", "debug", "--log-format", "json", "--out", out, in)
			if res.code != ExitRows {
				t.Fatalf("exit %d, want %d:\n%s", res.code, ExitRows, res.stderr)
			}
			outBytes, _ := os.ReadFile(out)
			meta, _ := os.ReadFile(journal.MetaPath(out))
			secrets := []string{rfcSecret, base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(rfcClientID) + ":" + url.QueryEscape(rfcSecret)))}
			for _, tok := range tokens {
				secrets = append(secrets, tok)
			}
			for _, s := range secrets {
				for name, text := range map[string]string{"stderr": res.stderr, "stdout": res.stdout, "outcome file": string(outBytes), "meta file": string(meta)} {
					for _, form := range []string{s, url.QueryEscape(s), strings.ReplaceAll(s, " ", "%20")} {
						if strings.Contains(text, form) {
							t.Errorf("%s contains secret %q", name, form)
						}
					}
				}
			}

			got := readOutcomes(t, out)
			want := map[int64]struct {
				status   revoke.Status
				attempts int
				errHas   string
			}{
				1: {revoke.Revoked, 1, ""},
				2: {revoke.Revoked, 3, ""},
				3: {revoke.Failed, 1, "unsupported_token_type: cannot handle sha256:"},
				4: {revoke.Revoked, 2, ""},
				5: {revoke.Invalid, 0, "token contains a space"},
				6: {revoke.Invalid, 0, "user/consumerKey row has no meaning for an RFC 7009 endpoint"},
				7: {revoke.Duplicate, 0, ""},
			}
			if len(got) != len(want) {
				t.Errorf("%d outcomes, want %d", len(got), len(want))
			}
			for line, w := range want {
				o := got[line]
				if o.Status != w.status || o.Attempts != w.attempts || !strings.Contains(o.Error, w.errHas) {
					t.Errorf("line %d: %s after %d attempts (%q), want %s after %d (%q)", line, o.Status, o.Attempts, o.Error, w.status, w.attempts, w.errHas)
				}
			}
			if got[6].Target != "ann@example.com" {
				t.Errorf("the refused user row does not say whom it named: %+v", got[6])
			}
			if n := srv.requests(tokens["unsupported"]); n != 1 {
				t.Errorf("unsupported_token_type was sent %d times, want once (not retried)", n)
			}
			if n := srv.requests(tokens["live"]); n != 1 {
				t.Errorf("the live token was sent %d times, want once", n)
			}
			if n := srv.hits.Load(); n != 1+3+1+2 {
				t.Errorf("the server saw %d requests, want 7", n)
			}
		})
	}
}

func TestRFC7009WrongSecretStopsTheRun(t *testing.T) {
	t.Parallel()
	srv := newRFCServer(t, nil)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-a\ntok-b\ntok-c\n")
	out := filepath.Join(dir, "out.csv")
	res := runMain(t, context.Background(), map[string]string{EnvClientSecret: "WRONG-secret-77"}, "",
		"run", "--provider", "rfc7009", "--revoke-url", srv.url, "--client-id", rfcClientID,
		"--rate", "0", "--concurrency", "1", "--out", out, in)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
	}
	for _, want := range []string{"the revocation endpoint rejected the client credentials (invalid_client): Client authentication failed.", "--resume"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "WRONG-secret-77") {
		t.Error("stderr shows the client secret")
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests after the credentials were rejected, want the 1 that found out", n)
	}
	if got := readOutcomes(t, out); len(got) != 0 {
		t.Errorf("rows recorded although none could be revoked: %v", got)
	}
}

func TestRFC7009RefusedBeforeAnythingIsSent(t *testing.T) {
	t.Parallel()
	srv := newRFCServer(t, nil)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "token\nabc\n")
	secretFile := writeFile(t, dir, "secret.txt", rfcSecret+"\n")
	env := map[string]string{EnvClientSecret: rfcSecret, EnvAdminToken: testAdminToken}
	out := filepath.Join(dir, "o1.csv")
	rfc := func(extra ...string) []string {
		return append([]string{"run", "--provider", "rfc7009", "--out", out}, append(extra, good)...)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // in stderr
	}{
		{"unknown provider", env, []string{"run", "--provider", "okta", "--out", out, good}, `--provider "okta"`},
		{"no revoke URL", env, rfc("--client-id", rfcClientID), "needs --revoke-url"},
		{"no client ID", env, rfc("--revoke-url", srv.url), "needs --client-id"},
		{"no client secret", nil, rfc("--revoke-url", srv.url, "--client-id", rfcClientID), EnvClientSecret},
		{"missing secret file", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--client-secret-file", filepath.Join(dir, "nope")), "client-secret-file"},
		{"empty secret file", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--client-secret-file", writeFile(t, dir, "empty.txt", "\n")), "is empty"},
		{"secret with a control character", map[string]string{EnvClientSecret: "abc\x01def"}, rfc("--revoke-url", srv.url, "--client-id", rfcClientID), "control"},
		{"client ID with a control character", env, rfc("--revoke-url", srv.url, "--client-id", "id\x7f"), "client ID"},
		{"secret as a flag", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--client-secret", rfcSecret), "not defined"},
		{"plain http to a remote host", env, rfc("--revoke-url", "http://example.okta.com/oauth2/v1/revoke", "--client-id", rfcClientID), "--revoke-url"},
		{"revoke URL with credentials", env, rfc("--revoke-url", "https://id:hunter2@example.okta.com/revoke", "--client-id", rfcClientID), "credentials"},
		{"bad client auth", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--client-auth", "jwt"), "--client-auth"},
		{"Concur's base URL", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--base-url", srv.url), "--base-url does not apply"},
		{"Concur's sandbox", env, rfc("--revoke-url", srv.url, "--client-id", rfcClientID, "--sandbox"), "--sandbox does not apply"},
		{"Concur's admin token file from the environment", map[string]string{EnvClientSecret: rfcSecret, "BULKREVOKE_ADMIN_TOKEN_FILE": secretFile},
			rfc("--revoke-url", srv.url, "--client-id", rfcClientID), "--admin-token-file does not apply"},
		{"RFC 7009 flags without the provider", env, []string{"run", "--base-url", srv.url, "--revoke-url", srv.url, "--out", out, good}, "--revoke-url does not apply to --provider concur"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, context.Background(), tc.env, "", tc.args...)
			if res.code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, ExitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, rfcSecret) || strings.Contains(res.stderr, "hunter2") {
				t.Error("stderr shows the client secret")
			}
		})
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent by refused runs", n)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run left an outcome file")
	}
}

func TestRFC7009Settings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret.txt", " "+rfcSecret+"\n")
	job := writeFile(t, dir, "job.yaml", "provider: rfc7009\nrevoke-url: https://example.okta.com/oauth2/v1/revoke\nclient-id: from-job\nclient-auth: post\n")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantID     string
		wantAuth   string
		wantSecret string
	}{
		{name: "job file", args: []string{"--job", job}, env: map[string]string{EnvClientSecret: "from-env"},
			wantID: "from-job", wantAuth: "post", wantSecret: "from-env"},
		{name: "environment over job file", args: []string{"--job", job}, env: map[string]string{EnvClientSecret: "from-env", "BULKREVOKE_CLIENT_ID": "from-env-id"},
			wantID: "from-env-id", wantAuth: "post", wantSecret: "from-env"},
		{name: "flags over both; the secret file over the environment", args: []string{"--job", job, "--client-id", "from-flag", "--client-auth", "basic", "--client-secret-file", secretFile},
			env: map[string]string{EnvClientSecret: "from-env", "BULKREVOKE_CLIENT_ID": "from-env-id"}, wantID: "from-flag", wantAuth: "basic", wantSecret: rfcSecret},
		{name: "dry run needs no secret", args: []string{"--job", job, "--dry-run"}, wantID: "from-job", wantAuth: "post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(tt.args, "--out", "o.csv", "in.csv")
			cfg, err := parseRun(args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			// Only the chosen provider's settings are kept: Concur's
			// cannot be filled in for an RFC 7009 run.
			rfc, ok := cfg.Settings.(*rfc7009.Settings)
			if !ok {
				t.Fatalf("settings %T, want *rfc7009.Settings", cfg.Settings)
			}
			if cfg.Provider != ProviderRFC7009 || rfc.RevokeURL.String() != "https://example.okta.com/oauth2/v1/revoke" {
				t.Errorf("provider %q, revoke URL %v", cfg.Provider, rfc.RevokeURL)
			}
			if rfc.ClientID != tt.wantID || rfc.ClientAuth != tt.wantAuth || rfc.ClientSecret != tt.wantSecret {
				t.Errorf("client %q, auth %q, secret set %v; want %q, %q, %v", rfc.ClientID, rfc.ClientAuth, rfc.ClientSecret != "", tt.wantID, tt.wantAuth, tt.wantSecret != "")
			}
		})
	}
	for name, body := range map[string]string{
		"client secret in a job file": "provider: rfc7009\nclient-secret: abc\n",
		"admin token in a job file":   "admin-token: abc\n",
	} {
		p := writeFile(t, dir, strings.ReplaceAll(name, " ", "_")+".yaml", body)
		_, err := parseRun([]string{"--job", p, "--dry-run", "--out", "o.csv", "in.csv"}, func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "secrets never go in a job file") || !strings.Contains(err.Error(), EnvClientSecret) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkRFC7009SampleOutcomes is checkSampleOutcomes for a dry run of
// sample-input-with-errors.csv with --provider rfc7009: its user rows are
// invalid there too.
func checkRFC7009SampleOutcomes(t *testing.T, path string) {
	t.Helper()
	checkSampleOutcomes(t, path, 4, 5, 6, 11, 12)
	got := readOutcomes(t, path)
	if reason := got[4].Error; !strings.Contains(reason, "RFC 7009") {
		t.Errorf("line 4: reason %q does not say why a user row is invalid here", reason)
	}
}
