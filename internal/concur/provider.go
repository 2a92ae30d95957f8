package concur

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/provider"
)

const (
	// DefaultBaseURL is the instance when --base-url is not given.
	DefaultBaseURL = "https://www.concursolutions.com"
	// EnvAdminToken names the environment variable holding the admin token.
	EnvAdminToken = "CONCUR_ADMIN_TOKEN"
	// Name is --provider's value for Concur.
	Name = "concur"
	// tokenFileFlag names the file holding the admin token.
	tokenFileFlag = "admin-token-file"
)

// Provider is --provider concur, the default: Concur's legacy
// revoketoken.ashx, authenticated with an administrator's token.
type Provider struct{}

var _ provider.Provider = Provider{}

func (Provider) Name() string    { return Name }
func (Provider) Summary() string { return "Concur's legacy endpoint" }

func (Provider) Secret() provider.Secret {
	return provider.Secret{Env: EnvAdminToken, FileFlag: tokenFileFlag, JobKeys: []string{"admin-token", "token"}}
}

// Flags declares --base-url, --admin-token-file, --user-param and
// --sandbox. There is no flag for the token itself: a flag value shows in
// ps and in shell history.
func (Provider) Flags(fs *flag.FlagSet) provider.Settings {
	s := &Settings{}
	fs.StringVar(&s.baseURL, "base-url", DefaultBaseURL, "Concur instance; requests go to `URL`/net2/oauth2/revoketoken.ashx (https, or http on loopback only)")
	fs.StringVar(&s.tokenFile, tokenFileFlag, "", "read the administrator's access token from `PATH` (else $"+EnvAdminToken+")")
	fs.StringVar(&s.UserParam, "user-param", DefaultUserParam, "query parameter naming the application on user rows: consumerKey or client_id")
	fs.BoolVar(&s.Sandbox, "sandbox", false, "run against a built-in Concur simulator on loopback (treats every target as live except about one token in five it knows as already revoked, answers every twelfth request with 503, throttles above 100 requests/s)")
	return s
}

// Settings are --provider concur's flag values.
type Settings struct {
	// BaseURL is the instance, checked; nil with Sandbox.
	BaseURL    *url.URL
	AdminToken string // never logged
	UserParam  string
	// Sandbox aims the run at a simulator started on loopback.
	Sandbox bool

	baseURL, tokenFile string
}

var (
	_ provider.Settings  = (*Settings)(nil)
	_ provider.Simulated = (*Settings)(nil)
)

func (s *Settings) Simulated() bool { return s.Sandbox }

func (s *Settings) SecretFiles() []provider.File {
	return []provider.File{{Flag: "--" + tokenFileFlag, Path: s.tokenFile}}
}

func (s *Settings) Complete(env provider.Env) error {
	if !validUserParam(s.UserParam) {
		return fmt.Errorf("--user-param %q: want consumerKey or client_id", s.UserParam)
	}
	if s.Sandbox {
		return nil // the simulator supplies the instance and the admin token
	}
	u, err := CheckBaseURL(s.baseURL)
	if err != nil {
		return fmt.Errorf("--base-url: %w", err)
	}
	s.BaseURL = u
	s.AdminToken, err = endpoint.Secret{What: "administrator token", Flag: "--" + tokenFileFlag, Path: s.tokenFile, Env: EnvAdminToken}.Read(env.Getenv)
	if err != nil && !env.DryRun {
		return err
	}
	return nil
}

// Open returns the client aimed at the instance, or at a simulator started
// here for --sandbox.
func (s *Settings) Open(c provider.Common) (provider.Instance, error) {
	baseURL, token, stop := s.BaseURL, s.AdminToken, func() {}
	if s.Sandbox {
		token = randomToken()
		srv, err := sim.Start(sim.Config{
			AdminToken: token,
			Live:       true,
			Dead:       sandboxDead,
			Latency:    10 * time.Millisecond,
			Jitter:     20 * time.Millisecond,
			// Maintenance 503s on a few requests show retries; a limit
			// like a real API's shows the pacer finding it when --rate is
			// set above it.
			Fault:     sandboxFaults,
			RateLimit: sandboxRateLimit,
			Seed:      time.Now().UnixNano(),
		})
		if err != nil {
			return provider.Instance{}, fmt.Errorf("start sandbox: %w", err)
		}
		baseURL, stop = srv.URL(), srv.Close
	}
	client, err := New(Config{
		BaseURL:    baseURL,
		AdminToken: token,
		UserParam:  s.UserParam,
		UserAgent:  c.UserAgent,
		Timeout:    c.Timeout,
		HTTPClient: c.HTTPClient,
	})
	if err != nil {
		stop()
		return provider.Instance{}, err
	}
	return provider.Instance{Revoker: client, Host: baseURL.Host, Close: stop}, nil
}

// sandboxRateLimit is the simulated instance's limit, in requests/s.
const sandboxRateLimit = 100

// sandboxFaults answers one request in twelve with a 503, from the second,
// so that even a short sandbox run shows a retry.
func sandboxFaults(n int64, _ *http.Request) sim.Fault {
	if n%12 == 2 {
		return sim.Status503
	}
	return sim.None
}

// sandboxDead picks the tokens the sandbox knows as already revoked: about
// one in five, by a hash of the token, so that a run shows not_found too,
// and the same token always gets the same answer.
func sandboxDead(token string) bool {
	h := fnv.New32a()
	h.Write([]byte(token))
	return h.Sum32()%5 == 0
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "sandbox-" + hex.EncodeToString(b)
}
