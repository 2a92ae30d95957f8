package revoketest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// flaw is one way of breaking the reference Revoker.
type flaw int

const (
	sound flaw = iota
	followsRedirects
	retriesCancellation
	sendsWhenCancelled
	givesUpOnTimeout
	echoesUnredacted
	cutsBeforeRedacting
	trustsAny2xx
	unauthorizedNotFatal
	ignoresRetryAfter
	serverErrorFinal
	sendsTwice
	newConnectionPerCall
	leavesBodyUnread
	dropsCorrelationID
)

// reference is the smallest honest Revoker the suite was written from: a
// Concur-like POST ?token=… with the secret in Authorization, revoked only
// on a 2xx with an empty body. flaw breaks one promise.
type reference struct {
	e    Endpoint
	hc   *http.Client
	flaw flaw
}

const referenceIDHeader = "X-Reference-Id"

func newReference(e Endpoint, f flaw) *reference {
	tr := endpoint.NewTransport(1)
	if f == newConnectionPerCall {
		tr.DisableKeepAlives = true
	}
	hc := &http.Client{Transport: tr}
	switch {
	case f == followsRedirects && e.HTTPClient != nil:
		hc = e.HTTPClient
	case f == followsRedirects:
	case e.HTTPClient != nil:
		hc = endpoint.WithoutRedirects(e.HTTPClient)
	default:
		hc = endpoint.WithoutRedirects(hc)
	}
	return &reference{e: e, hc: hc, flaw: f}
}

func (r *reference) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	if err := ctx.Err(); err != nil {
		if r.flaw != sendsWhenCancelled {
			return revoke.Answer{Status: revoke.Failed, Err: err}
		}
		// As a provider that sends on a context of its own would.
		ctx = context.WithoutCancel(ctx)
	}
	secrets := []string{r.e.Secret, row.Token}
	ans := r.send(ctx, row, secrets)
	if r.flaw == sendsTwice {
		ans = r.send(ctx, row, secrets)
	}
	return ans
}

func (r *reference) send(ctx context.Context, row input.Row, secrets []string) revoke.Answer {
	reqCtx, cancel := context.WithTimeout(ctx, r.e.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, r.e.URL+"/revoke?token="+url.QueryEscape(row.Token), http.NoBody)
	if err != nil {
		return revoke.Answer{Status: revoke.Failed, Err: endpoint.Scrub(endpoint.WithoutURL(err), secrets)}
	}
	req.Header.Set("Authorization", "OAuth "+r.e.Secret)
	resp, err := r.hc.Do(req)
	if err != nil {
		ans := revoke.Answer{Status: revoke.Failed, Err: endpoint.Scrub(endpoint.WithoutURL(err), secrets)}
		switch {
		case ctx.Err() != nil && r.flaw != retriesCancellation:
			ans.Err = fmt.Errorf("abandoned: %w", ctx.Err())
		case errors.Is(err, context.DeadlineExceeded) && r.flaw == givesUpOnTimeout:
		default:
			ans.Retry = true
		}
		return ans
	}
	var body []byte
	if r.flaw == leavesBodyUnread {
		_ = resp.Body.Close()
	} else {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, endpoint.MaxBody+1))
		_ = resp.Body.Close()
	}
	ans := revoke.Answer{Status: revoke.Failed, HTTPStatus: resp.StatusCode}
	if r.flaw != dropsCorrelationID {
		ans.CorrelationID = endpoint.CleanID(redact(resp.Header.Get(referenceIDHeader), secrets), secrets)
	}
	words := string(body)
	if r.flaw == cutsBeforeRedacting {
		words = words[:min(len(words), 800)]
	}
	if r.flaw != echoesUnredacted {
		words = redact(words, secrets)
	}
	ans.Err = fmt.Errorf("answered %d: %s", resp.StatusCode, endpoint.CleanText(words, 200))
	code := resp.StatusCode
	switch {
	case code == 401 && r.flaw != unauthorizedNotFatal:
		ans.Fatal = true
	case code == 429 || (code >= 500 && r.flaw != serverErrorFinal):
		ans.Retry, ans.Throttled = true, code == 429
		if r.flaw != ignoresRetryAfter {
			ans.RetryAfter = endpoint.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	case code/100 == 2 && (r.flaw == trustsAny2xx || len(bytes.TrimSpace(body)) == 0 && len(body) <= endpoint.MaxBody):
		ans.Status, ans.Err = revoke.Revoked, nil
	}
	return ans
}

// redact replaces every secret in every encoding a reply may carry it in.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		for _, form := range forms(sec) {
			s = strings.ReplaceAll(s, form, input.Fingerprint(sec))
		}
	}
	return s
}

func referenceProvider(f flaw) Provider {
	return Provider{
		New: func(_ testing.TB, e Endpoint) revoke.Revoker { return newReference(e, f) },
		TokenRow: func(line int64, token string) input.Row {
			return input.Row{Line: line, Kind: input.KindToken, Token: token}
		},
		Revoked:           func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
		CorrelationHeader: referenceIDHeader,
	}
}

// TestReferencePasses: the suite asks nothing that an honest provider
// cannot give.
func TestReferencePasses(t *testing.T) {
	t.Parallel()
	Run(t, referenceProvider(sound))
}

// TestEveryCaseCatchesItsFlaw breaks one promise at a time and checks that
// the cases about it fail, so that no case passes whatever the provider does.
func TestEveryCaseCatchesItsFlaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		flaw flaw
		// caught are cases that must fail with the flaw.
		caught []string
	}{
		{"follows redirects", followsRedirects, []string{"redirect/303 is not followed", "redirect/307 is not followed by a client that follows"}},
		{"retries the caller's cancellation", retriesCancellation, []string{"cancellation/while waiting for the reply is final"}},
		{"sends when already cancelled", sendsWhenCancelled, []string{"cancellation/before sending sends nothing"}},
		{"gives up on its own timeout", givesUpOnTimeout, []string{"timeout/our own is retried"}},
		{"echoes unredacted", echoesUnredacted, []string{"echoed secret/Concur XML error/short secrets", "echoed secret/OAuth JSON error/short secrets",
			"echoed secret/HTML page/short secrets", "echoed secret/plain text/long secrets"}},
		{"cuts before redacting", cutsBeforeRedacting, []string{"echoed secret/plain text/long secrets"}},
		{"trusts any 2xx", trustsAny2xx, []string{"unrecognised 2xx/HTML login page", "unrecognised 2xx/JSON success false", "unrecognised 2xx/SOAP fault"}},
		{"401 not fatal", unauthorizedNotFatal, []string{"401 is fatal/empty body", "401 is fatal/OAuth JSON error"}},
		{"ignores Retry-After", ignoresRetryAfter, []string{"429 is throttled/Retry-After in seconds", "429 is throttled/Retry-After as a date",
			"429 is throttled/Retry-After far ahead is capped", "5xx is retried/503 with Retry-After"}},
		{"5xx final", serverErrorFinal, []string{"5xx is retried/500 empty", "5xx is retried/502 proxy page"}},
		{"sends twice", sendsTwice, []string{"requests/one per call", "revoked/short secrets"}},
		{"new connection per call", newConnectionPerCall, []string{"connections/reused over sequential calls"}},
		{"leaves the body unread", leavesBodyUnread, []string{"connections/reused over sequential calls"}},
		{"drops the correlation ID", dropsCorrelationID, []string{"revoked/short secrets"}},
	}
	all := cases()
	for _, tt := range tests {
		for _, name := range tt.caught {
			i := slices.IndexFunc(all, func(c testCase) bool { return c.name == name })
			if i < 0 {
				t.Fatalf("no case %q", name)
			}
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				c := &check{}
				all[i].run(t, referenceProvider(tt.flaw), c)
				if len(c.problems) == 0 {
					t.Errorf("a provider that %s passed %q", tt.name, name)
				}
			})
		}
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	problems := []string{"a 200 HTML page is revoked"}
	tests := []struct {
		name         string
		problems     []string
		known        bool
		wantSkip     bool
		wantFailures int
	}{
		{"passes", nil, false, false, 0},
		{"fails", problems, false, false, 1},
		{"known failure still fails: skipped", problems, true, true, 0},
		{"known failure passes now: fails until its entry goes", nil, true, false, 1},
	}
	for _, tt := range tests {
		skip, failures := verdict("case", tt.problems, "reason", tt.known)
		if (skip != "") != tt.wantSkip || len(failures) != tt.wantFailures {
			t.Errorf("%s: skip %q, failures %q", tt.name, skip, failures)
		}
		if tt.wantSkip && (!strings.Contains(skip, "fails today: reason") || !strings.Contains(skip, problems[0])) {
			t.Errorf("%s: skip message %q lacks the reason or the problem", tt.name, skip)
		}
	}
}

// TestOnlyTestsImportRevoketest holds the package comment's promise: this
// package imports testing, so no non-test file may import it (the binary
// would link the test framework).
func TestOnlyTestsImportRevoketest(t *testing.T) {
	t.Parallel()
	testutil.AssertOnlyTestsImport(t, filepath.Join("..", ".."), "github.com/bulkrevoke/bulkrevoke/internal/revoketest")
}
