package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

// Providers: who is asked to revoke.
const (
	// ProviderConcur is Concur's legacy revoketoken.ashx (the default).
	ProviderConcur = "concur"
	// ProviderRFC7009 is any OAuth 2.0 Token Revocation endpoint.
	ProviderRFC7009 = "rfc7009"
	// EnvClientSecret names the environment variable holding the RFC 7009
	// client secret.
	EnvClientSecret = "REVOKE_CLIENT_SECRET"
)

// Each provider's own flags. Given with the other provider they are refused
// rather than ignored: --revoke-url without --provider rfc7009 would
// otherwise send the tokens to Concur.
var (
	concurFlags  = []string{"base-url", "admin-token-file", "user-param", "sandbox"}
	rfc7009Flags = []string{"revoke-url", "client-id", "client-secret-file", "client-auth"}
)

// providerValues are the raw values of the provider flags that Config
// derives from.
type providerValues struct {
	revokeURL, secretFile string
}

// addProviderFlags declares --provider and the RFC 7009 flags. There is no
// flag for the client secret itself: a flag value shows in ps and in shell
// history.
func addProviderFlags(fs *flag.FlagSet, cfg *Config, raw *providerValues) {
	fs.StringVar(&cfg.Provider, "provider", ProviderConcur, "who revokes, `concur|rfc7009`: concur (Concur's legacy endpoint) or rfc7009 (any OAuth 2.0 Token Revocation endpoint: Okta, Auth0, Keycloak, …)")
	fs.StringVar(&raw.revokeURL, "revoke-url", "", "rfc7009: the revocation endpoint `URL`, e.g. https://example.okta.com/oauth2/v1/revoke (https, or http on loopback only)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "rfc7009: the OAuth client `ID` that the tokens were issued to")
	fs.StringVar(&raw.secretFile, "client-secret-file", "", "rfc7009: read the client secret from `PATH` (else $"+EnvClientSecret+")")
	fs.StringVar(&cfg.ClientAuth, "client-auth", rfc7009.AuthBasic, "rfc7009: how the client authenticates, `basic|post`: basic (HTTP Basic) or post (client_id and client_secret form fields)")
}

// completeProvider checks the provider's own settings; complete has checked
// the common ones, and Concur's.
func (cfg *Config) completeProvider(fs *flag.FlagSet, raw providerValues, getenv func(string) string) error {
	var foreign []string
	switch cfg.Provider {
	case ProviderConcur:
		foreign = rfc7009Flags
	case ProviderRFC7009:
		foreign = concurFlags
	default:
		return usagef("--provider %q: want %s or %s", cfg.Provider, ProviderConcur, ProviderRFC7009)
	}
	for _, name := range foreign {
		if given(fs, name) {
			return usagef("--%s does not apply to --provider %s", name, cfg.Provider)
		}
	}
	if cfg.Provider != ProviderRFC7009 {
		return nil
	}

	if strings.TrimSpace(raw.revokeURL) == "" {
		return usagef("--provider %s needs --revoke-url, the revocation endpoint", ProviderRFC7009)
	}
	u, err := endpoint.ParseURL(raw.revokeURL)
	if err != nil {
		return &usageError{fmt.Errorf("--revoke-url: %w", err)}
	}
	cfg.RevokeURL = u
	if cfg.ClientID == "" {
		return usagef("--provider %s needs --client-id", ProviderRFC7009)
	}
	switch cfg.ClientAuth {
	case rfc7009.AuthBasic, rfc7009.AuthPost:
	default:
		return usagef("--client-auth %q: want %s or %s", cfg.ClientAuth, rfc7009.AuthBasic, rfc7009.AuthPost)
	}
	cfg.ClientSecret, err = clientSecret(raw.secretFile, getenv)
	if err != nil && !cfg.DryRun {
		return &usageError{err}
	}
	// The client refuses what it cannot send; ask it now, so that a bad
	// client ID is a usage error and not a stopped run. (A dry run may have
	// no secret, and then cannot ask.)
	if cfg.ClientSecret != "" {
		if _, err := newRFC7009Client(*cfg); err != nil {
			return &usageError{err}
		}
	}
	return nil
}

// clientSecret reads the RFC 7009 client secret from the file named by
// --client-secret-file, else from the environment. The flag wins: flags are
// more specific than the environment.
func clientSecret(path string, getenv func(string) string) (string, error) {
	var secret string
	if path != "" {
		b, err := readSecretFile("--client-secret-file", path)
		if err != nil {
			return "", err
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", errors.New("--client-secret-file: the file is empty")
		}
	} else {
		secret = strings.TrimSpace(getenv(EnvClientSecret))
		if secret == "" {
			return "", fmt.Errorf("no client secret: set $%s or give --client-secret-file", EnvClientSecret)
		}
	}
	for i := range len(secret) {
		if secret[i] < 0x20 || secret[i] > 0x7e {
			return "", errors.New("the client secret holds a control or non-ASCII character; check how it was saved")
		}
	}
	return secret, nil
}

func newRFC7009Client(cfg Config) (*rfc7009.Client, error) {
	return rfc7009.New(rfc7009.Config{
		RevokeURL:    cfg.RevokeURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		ClientAuth:   cfg.ClientAuth,
		UserAgent:    "bulkrevoke/" + Version(),
		Timeout:      cfg.Timeout,
		HTTPClient:   newHTTPClient(cfg),
	})
}

// rfc7009Instance is instance() for --provider rfc7009.
func rfc7009Instance(cfg Config) (revoke.Revoker, string, func(), error) {
	client, err := newRFC7009Client(cfg)
	if err != nil {
		return nil, "", nil, &usageError{err}
	}
	return client, cfg.RevokeURL.Host, func() {}, nil
}

// rowCheck is the provider's rule for rows that the input accepts but the
// provider cannot send (revoke.CheckRows); nil when it can send them all.
func rowCheck(cfg Config) func(input.Row) error {
	if cfg.Provider == ProviderRFC7009 {
		return rfc7009.CheckRow
	}
	return nil
}
