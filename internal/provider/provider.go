// Package provider is the contract between the command line and whoever is
// asked to revoke: Concur's legacy endpoint, any RFC 7009 endpoint, the
// next one. A provider declares its own flags, the job-file keys that would
// hold its secret, how its settings are checked and how its client is
// built; the command line derives from the registry which flags apply to
// which provider, the --provider values and the job file's refusals.
//
// docs/PROVIDERS.md lists the steps to add one.
package provider

import (
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Provider is one way of revoking.
type Provider interface {
	// Name is the value of --provider that picks it: "concur".
	Name() string
	// Summary says what it is in a few words, for the usage of
	// --provider: "Concur's legacy endpoint".
	Summary() string
	// Secret says where its secret comes from and which job-file keys
	// would hold it (and are refused: secrets never go in a job file).
	Secret() Secret
	// Flags declares the provider's own flags on fs, bound to the
	// Settings it returns. Its flag names are its own: given with another
	// provider, they are refused rather than ignored.
	Flags(fs *flag.FlagSet) Settings
}

// Secret is where a provider's secret comes from.
type Secret struct {
	// Env is the environment variable holding it: "CONCUR_ADMIN_TOKEN".
	Env string
	// FileFlag is the flag naming a file that holds it, without dashes:
	// "admin-token-file".
	FileFlag string
	// JobKeys are the job-file keys refused as secrets: "admin-token".
	JobKeys []string
}

// Settings are a provider's flag values, once parsed.
type Settings interface {
	// Complete checks the values against each other and reads the
	// secret. Its errors are the operator's to fix: the run is refused
	// (exit 2) before anything is sent. In a dry run a missing secret is
	// no error, since nothing is sent.
	Complete(env Env) error
	// Open returns what sends the requests; Complete has succeeded and
	// the run is not a dry run.
	Open(c Common) (Instance, error)
	// SecretFiles are the files the settings name that hold secrets, by
	// flag ("--admin-token-file"): no output may be written over them.
	// A path is "" when its flag was not given.
	SecretFiles() []File
}

// File is a file a setting names.
type File struct{ Flag, Path string }

// Simulated is implemented by Settings that can aim the run at a simulator
// (Concur's --sandbox): its outcomes prove nothing about real tokens, and
// the outcome file says so.
type Simulated interface {
	Simulated() bool
}

// Env is what Complete may read.
type Env struct {
	Getenv func(string) string
	DryRun bool
}

// Common is what every provider's client is built with.
type Common struct {
	UserAgent  string
	Timeout    time.Duration
	HTTPClient *http.Client
}

// Instance is a provider's client, ready to send.
type Instance struct {
	Revoker revoke.Revoker
	// Host is what the starting line names as the instance.
	Host string
	// Close releases what Open started (Concur's sandbox simulator); nil
	// when nothing.
	Close func()
}

// Registry holds the providers, the first registered the default.
type Registry struct {
	list []Provider
}

// Register adds p. A second provider of the same name is a programming
// error, and panics.
func (r *Registry) Register(p Provider) {
	if _, ok := r.Lookup(p.Name()); ok {
		panic(fmt.Sprintf("provider %q registered twice", p.Name()))
	}
	r.list = append(r.list, p)
}

// Lookup finds the provider called name.
func (r *Registry) Lookup(name string) (Provider, bool) {
	for _, p := range r.list {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// All returns the providers in the order registered.
func (r *Registry) All() []Provider { return slices.Clone(r.list) }

// Default is the first provider registered.
func (r *Registry) Default() Provider { return r.list[0] }

// Names lists the provider names as a person reads them: "concur or
// rfc7009", "a, b or c".
func (r *Registry) Names() string {
	names := make([]string, len(r.list))
	for i, p := range r.list {
		names[i] = p.Name()
	}
	return Or(names)
}

// Or joins words as a person would: "a", "a or b", "a, b or c".
func Or(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// Declared is every provider's flags declared on one flag set.
type Declared struct {
	settings map[string]Settings // by provider name
	owner    map[string]string   // provider name by flag name
}

// Declare declares every provider's flags on fs, and records which
// provider owns each flag.
func (r *Registry) Declare(fs *flag.FlagSet) *Declared {
	d := &Declared{settings: map[string]Settings{}, owner: map[string]string{}}
	for _, p := range r.list {
		before := map[string]bool{}
		fs.VisitAll(func(f *flag.Flag) { before[f.Name] = true })
		d.settings[p.Name()] = p.Flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !before[f.Name] {
				d.owner[f.Name] = p.Name()
			}
		})
	}
	return d
}

// Settings returns the settings of the provider called name; nil when no
// provider is called so.
func (d *Declared) Settings(name string) Settings { return d.settings[name] }

// Foreign returns the first flag (in name order) that was given, from any
// layer, and belongs to a provider other than name; "" when none.
// Refused rather than ignored: --revoke-url without --provider rfc7009
// would otherwise send the tokens to Concur.
func (d *Declared) Foreign(fs *flag.FlagSet, name string) string {
	foreign := ""
	fs.Visit(func(f *flag.Flag) {
		if owner, ok := d.owner[f.Name]; ok && owner != name && foreign == "" {
			foreign = f.Name
		}
	})
	return foreign
}
