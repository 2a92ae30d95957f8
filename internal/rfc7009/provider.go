package rfc7009

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/provider"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// EnvClientSecret names the environment variable holding the client
// secret.
const EnvClientSecret = "REVOKE_CLIENT_SECRET"

const (
	// Name is --provider's value for RFC 7009.
	Name = "rfc7009"
	// secretFileFlag names the file holding the client secret.
	secretFileFlag = "client-secret-file"
)

// Provider is --provider rfc7009: any OAuth 2.0 Token Revocation endpoint,
// authenticated as the client the tokens were issued to.
type Provider struct{}

var _ provider.Provider = Provider{}

func (Provider) Name() string { return Name }
func (Provider) Summary() string {
	return "any OAuth 2.0 Token Revocation endpoint: Okta, Auth0, Keycloak, …"
}

func (Provider) Secret() provider.Secret {
	return provider.Secret{Env: EnvClientSecret, FileFlag: secretFileFlag, JobKeys: []string{"client-secret"}}
}

// Flags declares --revoke-url, --client-id, --client-secret-file and
// --client-auth. There is no flag for the client secret itself: a flag
// value shows in ps and in shell history.
func (Provider) Flags(fs *flag.FlagSet) provider.Settings {
	s := &Settings{}
	fs.StringVar(&s.revokeURL, "revoke-url", "", "rfc7009: the revocation endpoint `URL`, e.g. https://example.okta.com/oauth2/v1/revoke (https, or http on loopback only)")
	fs.StringVar(&s.ClientID, "client-id", "", "rfc7009: the OAuth client `ID` that the tokens were issued to")
	fs.StringVar(&s.secretFile, secretFileFlag, "", "rfc7009: read the client secret from `PATH` (else $"+EnvClientSecret+")")
	fs.StringVar(&s.ClientAuth, "client-auth", AuthBasic, "rfc7009: how the client authenticates, `basic|post`: basic (HTTP Basic) or post (client_id and client_secret form fields)")
	return s
}

// Settings are --provider rfc7009's flag values.
type Settings struct {
	RevokeURL    *url.URL // checked
	ClientID     string
	ClientSecret string // never logged
	ClientAuth   string

	revokeURL, secretFile string
}

var (
	_ provider.Settings = (*Settings)(nil)
	// A dry run has no Client, and checks rows all the same.
	_ revoke.RowChecker = (*Settings)(nil)
)

func (s *Settings) SecretFiles() []provider.File {
	return []provider.File{{Flag: "--" + secretFileFlag, Path: s.secretFile}}
}

// CheckRow is CheckRow, for a dry run.
func (s *Settings) CheckRow(r input.Row) error { return CheckRow(r) }

func (s *Settings) Complete(env provider.Env) error {
	if strings.TrimSpace(s.revokeURL) == "" {
		return errors.New("--provider " + Name + " needs --revoke-url, the revocation endpoint")
	}
	u, err := endpoint.ParseURL(s.revokeURL)
	if err != nil {
		return fmt.Errorf("--revoke-url: %w", err)
	}
	s.RevokeURL = u
	if s.ClientID == "" {
		return errors.New("--provider " + Name + " needs --client-id")
	}
	switch s.ClientAuth {
	case AuthBasic, AuthPost:
	default:
		return fmt.Errorf("--client-auth %q: want %s or %s", s.ClientAuth, AuthBasic, AuthPost)
	}
	s.ClientSecret, err = endpoint.Secret{What: "client secret", Flag: "--" + secretFileFlag, Path: s.secretFile, Env: EnvClientSecret, Spaces: true}.Read(env.Getenv)
	if err != nil && !env.DryRun {
		return err
	}
	// The client refuses what it cannot send; ask it now, so that a bad
	// client ID is refused before the run and not a stopped run. (A dry
	// run may have no secret, and then cannot ask.)
	if s.ClientSecret != "" {
		if _, err := s.client(provider.Common{}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Settings) Open(c provider.Common) (provider.Instance, error) {
	client, err := s.client(c)
	if err != nil {
		return provider.Instance{}, err
	}
	return provider.Instance{Revoker: client, Host: s.RevokeURL.Host}, nil
}

func (s *Settings) client(c provider.Common) (*Client, error) {
	return New(Config{
		RevokeURL:    s.RevokeURL,
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		ClientAuth:   s.ClientAuth,
		UserAgent:    c.UserAgent,
		Timeout:      c.Timeout,
		HTTPClient:   c.HTTPClient,
	})
}
