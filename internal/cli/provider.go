package cli

import (
	"flag"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/provider"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

// The providers: who is asked to revoke. The first is the default. Adding
// one is its package and one line here (docs/PROVIDERS.md).
var providers = registry(
	concur.Provider{},
	rfc7009.Provider{},
)

func registry(ps ...provider.Provider) *provider.Registry {
	r := &provider.Registry{}
	for _, p := range ps {
		r.Register(p)
	}
	return r
}

// Register adds a provider to the command line, after the built-in ones.
// It is for tests of the registry (a fake provider in its own test binary);
// call it before Main, never concurrently with it.
func Register(p provider.Provider) { providers.Register(p) }

// The providers' names and secrets, kept for tests and scripts that name
// them.
const (
	ProviderConcur  = concur.Name
	ProviderRFC7009 = rfc7009.Name
	// EnvAdminToken names the environment variable holding Concur's admin
	// token, EnvClientSecret the one holding the RFC 7009 client secret.
	EnvAdminToken   = concur.EnvAdminToken
	EnvClientSecret = rfc7009.EnvClientSecret
)

// addProviderFlags declares --provider and every provider's own flags.
func addProviderFlags(fs *flag.FlagSet, cfg *Config, raw *flagValues) {
	var values, described []string
	for _, p := range providers.All() {
		values = append(values, p.Name())
		described = append(described, p.Name()+" ("+p.Summary()+")")
	}
	fs.StringVar(&cfg.Provider, "provider", providers.Default().Name(),
		"who revokes, `"+strings.Join(values, "|")+"`: "+provider.Or(described))
	raw.providers = providers.Declare(fs)
}

// completeProvider checks the chosen provider's settings; complete has
// checked the common ones.
func (cfg *Config) completeProvider(fs *flag.FlagSet, raw flagValues, getenv func(string) string) error {
	settings := raw.providers.Settings(cfg.Provider)
	if settings == nil {
		return usagef("--provider %q: want %s", cfg.Provider, providers.Names())
	}
	if name := raw.providers.Foreign(fs, cfg.Provider); name != "" {
		return usagef("--%s does not apply to --provider %s", name, cfg.Provider)
	}
	if err := settings.Complete(provider.Env{Getenv: getenv, DryRun: cfg.DryRun}); err != nil {
		return &usageError{err}
	}
	cfg.Settings = settings
	if s, ok := settings.(provider.Simulated); ok {
		cfg.Sandbox = s.Simulated()
	}
	return nil
}

// jobSecretRefusal is the job file's answer to a key that would hold a
// secret, "" for any other key: where each provider's secret goes instead.
func jobSecretRefusal(key string) string {
	secret := false
	var instead, others []string
	for i, p := range providers.All() {
		s := p.Secret()
		for _, k := range s.JobKeys {
			secret = secret || k == key
		}
		where := s.Env + " or " + s.FileFlag
		if i == 0 {
			instead = append(instead, where)
		} else {
			others = append(others, where+" for --provider "+p.Name())
		}
	}
	if !secret {
		return ""
	}
	text := "secrets never go in a job file; use " + strings.Join(instead, "")
	if len(others) > 0 {
		text += " (" + strings.Join(others, "; ") + ")"
	}
	return text
}

// open returns what sends the requests; nil in a dry run, which sends
// nothing.
func open(cfg Config) (provider.Instance, error) {
	if cfg.DryRun {
		return provider.Instance{Host: "none (dry run)", Close: func() {}}, nil // the pool sends nothing
	}
	inst, err := cfg.Settings.Open(provider.Common{
		UserAgent:  "bulkrevoke/" + Version(),
		Timeout:    cfg.Timeout,
		HTTPClient: newHTTPClient(cfg),
	})
	if err != nil {
		return provider.Instance{}, &usageError{err}
	}
	if inst.Close == nil {
		inst.Close = func() {}
	}
	return inst, nil
}

// rowCheck is the provider's rule for rows that the input accepts but it
// cannot send (revoke.CheckRows): the Revoker's, or in a dry run the
// settings', when either is a revoke.RowChecker; nil when it can send them
// all.
func rowCheck(r revoke.Revoker, settings provider.Settings) func(input.Row) error {
	for _, v := range []any{r, settings} {
		if c, ok := v.(revoke.RowChecker); ok {
			return c.CheckRow
		}
	}
	return nil
}

// secretFiles are the files the chosen provider's flags name that hold
// secrets; every provider's, since the flags are checked after this.
func secretFiles(raw flagValues) []namedPath {
	var paths []namedPath
	for _, p := range providers.All() {
		for _, f := range raw.providers.Settings(p.Name()).SecretFiles() {
			paths = append(paths, namedPath{f.Flag, f.Path, false})
		}
	}
	return paths
}
