package concur_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestForbiddenIsSuspect: a 403 may be about the administrator or about the
// row, so it is neither fatal nor a final row failure by itself: the pool
// settles it with a probe. A 401 is about the administrator only.
func TestForbiddenIsSuspect(t *testing.T) {
	t.Parallel()
	c, s := against(t, sim.Config{Fault: func(int64, *http.Request) sim.Fault { return sim.Status403 }}, nil)
	s.AddToken("t1")
	ans := c.Revoke(context.Background(), tokenRow("t1"))
	if !ans.Suspect || ans.Fatal || ans.Retry || ans.Status != revoke.Failed || ans.HTTPStatus != 403 {
		t.Errorf("answer = %+v, want a suspect, final 403", ans)
	}
	var apiErr *concur.APIError
	if !errors.As(ans.Err, &apiErr) || !apiErr.Suspect() || apiErr.Fatal() || apiErr.Retryable() ||
		!strings.Contains(ans.Err.Error(), "403 Forbidden: "+sim.MsgForbidden) {
		t.Errorf("Err = %v, want Concur's message in a suspect APIError", ans.Err)
	}

	unauthorized := &concur.APIError{Status: 401}
	if !unauthorized.Fatal() || unauthorized.Suspect() {
		t.Errorf("401: Fatal %v Suspect %v, want fatal only", unauthorized.Fatal(), unauthorized.Suspect())
	}
}

// TestProbe: the probe revokes a fresh random token through the same
// endpoint with the same administrator header, never a user, never a row's
// token, and its answer tells an accepted administrator from a refused one.
func TestProbe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		cfg      sim.Config
		rotate   bool
		accepted bool
		status   revoke.Status
	}{
		{"accepted: unknown token answered 200 with an Error", sim.Config{UnknownTokenReply: sim.ReplyError200}, false, true, revoke.NotFound},
		{"accepted: unknown token answered 400", sim.Config{UnknownTokenReply: sim.ReplyError400}, false, true, revoke.NotFound},
		{"accepted: any token answered an empty 200", sim.Config{UnknownTokenReply: sim.ReplyEmpty200}, false, true, revoke.Revoked},
		{"refused: the admin token was revoked", sim.Config{}, true, false, revoke.Failed},
		{"refused: the admin lacks the role (403 for everything)", sim.Config{Fault: func(int64, *http.Request) sim.Fault { return sim.Status403 }}, false, false, revoke.Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var seen []*http.Request
			wrap := tc.cfg.Fault
			tc.cfg.Fault = func(n int64, r *http.Request) sim.Fault {
				mu.Lock()
				seen = append(seen, r.Clone(context.Background()))
				mu.Unlock()
				if wrap != nil {
					return wrap(n, r)
				}
				return sim.None
			}
			c, s := against(t, tc.cfg, nil)
			live := s.AddUserTokens("vicky", "app", 3)
			s.AddToken("real-token")
			if tc.rotate {
				s.SetAdminToken("the-new-one")
			}

			first, second := c.Probe(context.Background()), c.Probe(context.Background())
			for _, ans := range []revoke.Answer{first, second} {
				if got := ans.Status == revoke.Revoked || ans.Status == revoke.NotFound; got != tc.accepted || ans.Status != tc.status {
					t.Errorf("probe answer %+v: status %s, want %s", ans, ans.Status, tc.status)
				}
				if !tc.accepted && (!ans.Suspect || !strings.Contains(ans.Err.Error(), "refused the administrator token")) {
					t.Errorf("refused probe: %+v, want a suspect answer naming the administrator token", ans)
				}
			}

			if len(seen) != 2 {
				t.Fatalf("%d requests for 2 probes", len(seen))
			}
			var tokens []string
			for _, r := range seen {
				q := r.URL.Query()
				tok := q.Get("token")
				if r.Method != http.MethodPost || r.Header.Get("Authorization") != "OAuth "+simAdmin || q.Get("user") != "" || q.Get("consumerKey") != "" ||
					!strings.HasPrefix(tok, concur.ProbePrefix) || len(tok) < len(concur.ProbePrefix)+40 {
					t.Errorf("probe request %s %s (Authorization %q): want a POST of a long random token with the admin header", r.Method, r.URL.RawQuery, r.Header.Get("Authorization"))
				}
				tokens = append(tokens, tok)
			}
			if tokens[0] == tokens[1] {
				t.Errorf("two probes sent the same token %q", tokens[0])
			}
			// Nothing real was touched.
			if _, revoked := s.TokenRevoked("real-token"); revoked {
				t.Error("a probe revoked a real token")
			}
			for _, tok := range live {
				if _, revoked := s.TokenRevoked(tok); revoked {
					t.Error("a probe revoked a user's token")
				}
			}
		})
	}
}
