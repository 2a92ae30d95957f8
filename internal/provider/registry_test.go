package provider_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/provider"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// fake is a token-only provider as small as one can be, added the way
// docs/PROVIDERS.md says: this package (here, this file) and one
// registration line (TestMain). Nothing in cli names it.
type fake struct{}

func (fake) Name() string    { return "fake" }
func (fake) Summary() string { return "a test endpoint" }
func (fake) Secret() provider.Secret {
	return provider.Secret{Env: "FAKE_KEY", FileFlag: "fake-key-file", JobKeys: []string{"fake-key"}}
}

func (fake) Flags(fs *flag.FlagSet) provider.Settings {
	s := &fakeSettings{}
	fs.StringVar(&s.rawURL, "fake-url", "", "fake: the revocation endpoint `URL`")
	fs.StringVar(&s.keyFile, "fake-key-file", "", "fake: read the key from `PATH` (else $FAKE_KEY)")
	return s
}

type fakeSettings struct {
	rawURL, keyFile string
	u               *url.URL
	key             string
}

func (s *fakeSettings) Complete(env provider.Env) error {
	if s.rawURL == "" {
		return errors.New("--provider fake needs --fake-url")
	}
	u, err := endpoint.ParseURL(s.rawURL)
	if err != nil {
		return fmt.Errorf("--fake-url: %w", err)
	}
	s.u = u
	s.key, err = endpoint.Secret{What: "fake key", Flag: "--fake-key-file", Path: s.keyFile, Env: "FAKE_KEY"}.Read(env.Getenv)
	if err != nil && !env.DryRun {
		return err
	}
	return nil
}

func (s *fakeSettings) SecretFiles() []provider.File {
	return []provider.File{{Flag: "--fake-key-file", Path: s.keyFile}}
}

func (s *fakeSettings) Open(c provider.Common) (provider.Instance, error) {
	return provider.Instance{Revoker: &fakeClient{url: s.u.String(), key: s.key, http: endpoint.WithoutRedirects(c.HTTPClient)}, Host: s.u.Host}, nil
}

type fakeClient struct {
	url, key string
	http     *http.Client
}

// CheckRow makes the fake token-only: the cli finds it by a type assertion.
func (c *fakeClient) CheckRow(row input.Row) error {
	if row.Kind != input.KindToken {
		return errors.New("fake revokes tokens only")
	}
	return nil
}

func (c *fakeClient) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(url.Values{"token": {row.Token}}.Encode()))
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: errors.New("build request")}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Key", c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Retry: true, Err: errors.New("no answer")}
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: resp.StatusCode}
	case http.StatusNotFound:
		return revoke.Answer{Status: revoke.NotFound, HTTPStatus: resp.StatusCode}
	case http.StatusUnauthorized:
		return revoke.Answer{Status: revoke.Failed, Fatal: true, HTTPStatus: resp.StatusCode, Err: errors.New("key rejected")}
	}
	return revoke.Answer{Status: revoke.Failed, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
}

func TestMain(m *testing.M) {
	cli.Register(fake{}) // the one registration line
	os.Exit(m.Run())
}

const fakeKey = "FAKE-key-0123456789"

// fakeServer answers 200 for tokens starting "live", 404 for the rest, and
// 401 for a wrong key; it records the tokens it was sent.
func fakeServer(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != fakeKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		tok := r.PostFormValue("token")
		mu.Lock()
		got = append(got, tok)
		mu.Unlock()
		if strings.HasPrefix(tok, "live") {
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func runMain(args []string, env map[string]string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return code, stderr.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegisteredProviderRuns(t *testing.T) {
	srv, sent := fakeServer(t)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token,user,consumerKey\nlive-1,,\ngone-2,,\n,judy@example.com,ck-1\n")
	out := filepath.Join(dir, "out.jsonl")
	code, stderr := runMain([]string{"run", "--provider", "fake", "--fake-url", srv.URL, "--log-format", "json", "--out", out, in},
		map[string]string{"FAKE_KEY": fakeKey})
	// The user row is invalid (the fake's row check), so the run exits 4.
	if code != cli.ExitInvalid {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, cli.ExitInvalid, stderr)
	}
	if strings.Contains(stderr, fakeKey) {
		t.Error("stderr shows the key")
	}
	if got := sent(); len(got) != 2 {
		t.Errorf("server was sent %q, want the two token rows only", got)
	}
	want := map[int64]revoke.Status{2: revoke.Revoked, 3: revoke.NotFound, 4: revoke.Invalid}
	got := map[int64]revoke.Status{}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var o revoke.Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("outcome %q: %v", sc.Text(), err)
		}
		got[o.Line] = o.Status
		if o.Status == revoke.Invalid && !strings.Contains(o.Error, "fake revokes tokens only") {
			t.Errorf("invalid row's reason %q is not the fake's row check", o.Error)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if !strings.Contains(stderr, `"provider":"fake"`) {
		t.Errorf("starting line does not name the provider:\n%s", stderr)
	}
}

func TestRegisteredProviderRefusals(t *testing.T) {
	srv, sent := fakeServer(t)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\nlive-1\n")
	out := filepath.Join(dir, "out.csv")
	job := writeFile(t, dir, "job.yaml", "fake-key: "+fakeKey+"\n")
	env := map[string]string{"FAKE_KEY": fakeKey, cli.EnvAdminToken: "ADMIN-token-1"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"its flag with the default provider", env, []string{"run", "--fake-url", srv.URL, "--out", out, in}, "--fake-url does not apply to --provider concur"},
		{"another provider's flag with it", env, []string{"run", "--provider", "fake", "--fake-url", srv.URL, "--base-url", srv.URL, "--out", out, in}, "--base-url does not apply to --provider fake"},
		{"its secret in a job file", env, []string{"run", "--job", job, "--provider", "fake", "--fake-url", srv.URL, "--out", out, in}, "fake-key: secrets never go in a job file; use CONCUR_ADMIN_TOKEN or admin-token-file (REVOKE_CLIENT_SECRET or client-secret-file for --provider rfc7009; FAKE_KEY or fake-key-file for --provider fake)"},
		{"no key", nil, []string{"run", "--provider", "fake", "--fake-url", srv.URL, "--out", out, in}, "no fake key: set $FAKE_KEY or give --fake-key-file"},
		{"an unknown provider", env, []string{"run", "--provider", "okta", "--out", out, in}, `--provider "okta": want concur, rfc7009 or fake`},
		{"an output over its secret file", env, []string{"run", "--provider", "fake", "--fake-url", srv.URL, "--fake-key-file", out, "--out", out, in}, "--out and --fake-key-file are the same file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runMain(tc.args, tc.env)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, fakeKey) {
				t.Error("stderr shows the key")
			}
		})
	}
	if got := sent(); len(got) != 0 {
		t.Errorf("refused runs sent %q", got)
	}
}

func TestRegisteredProviderInUsage(t *testing.T) {
	_, stderr := runMain([]string{"run", "-h"}, nil)
	for _, want := range []string{
		"-provider concur|rfc7009|fake",
		"concur (Concur's legacy endpoint), rfc7009 (any OAuth 2.0 Token Revocation endpoint: Okta, Auth0, Keycloak, …) or fake (a test endpoint)",
		"-fake-url URL",
		"-fake-key-file PATH",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("run -h does not show %q:\n%s", want, stderr)
		}
	}
}
