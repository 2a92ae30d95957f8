// Package revoketest is the conformance suite that every provider (every
// revoke.Revoker that talks to a revocation endpoint) must pass: the promises
// that the pool, the credential breaker and the outcome file rely on, checked
// against a real loopback server. A provider's package runs it from one short
// test, as each of restic's backends runs its backend test suite:
//
//	func TestConformance(t *testing.T) {
//		revoketest.Run(t, revoketest.Provider{New: …, Revoked: …, CorrelationHeader: …})
//	}
//
// It imports package testing, so only tests may import it.
package revoketest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Provider describes the provider under test: how to point it at a test
// server and what its server answers for a revocation.
type Provider struct {
	// New returns a Revoker that sends every request to the server at
	// e.URL, authenticated with e.Secret and bounded by e.Timeout per
	// request. It fails the test if the provider refuses the configuration.
	New func(t testing.TB, e Endpoint) revoke.Revoker
	// TokenRow returns the row that asks for token to be revoked; nil means
	// input.Row{Line: line, Kind: input.KindToken, Token: token}.
	TokenRow func(line int64, token string) input.Row
	// Revoked writes the reply with which the provider's server says that a
	// token was revoked.
	Revoked func(w http.ResponseWriter, r *http.Request)
	// CorrelationHeader names the reply header that Answer.CorrelationID is
	// read from.
	CorrelationHeader string
	// KnownFailures maps the name of a case that the provider fails today
	// to the reason and the change that will fix it. Such a case is
	// skipped with its failures; once it passes, the suite fails until its
	// entry is removed, so that the list never outlives the bug.
	KnownFailures map[string]string
}

// Endpoint is where and how a Revoker under test sends.
type Endpoint struct {
	// URL is the test server's base URL, "http://127.0.0.1:port", without
	// a path; the server answers on every path.
	URL string
	// Secret is the credential to authenticate with: Concur's
	// administrator token, an RFC 7009 client secret. The suite picks it
	// so that it can look for it in what comes back.
	Secret string
	// Timeout bounds each request.
	Timeout time.Duration
	// HTTPClient, when set, is the client to send with; nil means the
	// provider's own default, as in production.
	HTTPClient *http.Client
}

// Run runs every case of the suite against p, each as a parallel subtest
// named as in KnownFailures.
func Run(t *testing.T, p Provider) {
	t.Helper()
	if p.New == nil || p.Revoked == nil || p.CorrelationHeader == "" {
		t.Fatal("revoketest: Provider needs New, Revoked and CorrelationHeader")
	}
	if p.TokenRow == nil {
		p.TokenRow = func(line int64, token string) input.Row {
			return input.Row{Line: line, Kind: input.KindToken, Token: token}
		}
	}
	all := cases()
	for name := range p.KnownFailures {
		if !slices.ContainsFunc(all, func(c testCase) bool { return c.name == name }) {
			t.Errorf("KnownFailures names %q, which is no case of the suite", name)
		}
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &check{}
			tc.run(t, p, c)
			reason, known := p.KnownFailures[tc.name]
			skip, failures := verdict(tc.name, c.problems, reason, known)
			for _, f := range failures {
				t.Error(f)
			}
			if skip != "" {
				t.Skip(skip)
			}
		})
	}
}

// verdict says what a case's problems mean: failures, or, for a known
// failure, a reason to skip; a known failure that no longer fails is a
// failure itself, so that its entry is removed.
func verdict(name string, problems []string, reason string, known bool) (skip string, failures []string) {
	switch {
	case known && len(problems) > 0:
		return "fails today: " + reason + "\n" + strings.Join(problems, "\n"), nil
	case known:
		return "", []string{fmt.Sprintf("passes now: remove %q from the provider's KnownFailures (%s)", name, reason)}
	default:
		return "", problems
	}
}

// check collects a case's failures, so that Run can tell a known failure
// from a new one and the suite's own tests can see what a case caught.
type check struct {
	problems []string
}

func (c *check) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// testCase is one leaf of the suite.
type testCase struct {
	name string
	run  func(t *testing.T, p Provider, c *check)
}
