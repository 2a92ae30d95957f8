package concur_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	simAdmin   = "sim-admin-token-0123456789"
	faultToken = "fault-token-QWERTY"
)

// against returns a client aimed at a fresh simulator.
func against(t *testing.T, cfg sim.Config, edit func(*concur.Config)) (*concur.Client, *sim.Server) {
	t.Helper()
	if cfg.AdminToken == "" {
		cfg.AdminToken = simAdmin
	}
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	u, err := concur.CheckBaseURL(srv.URL)
	if err != nil {
		t.Fatalf("CheckBaseURL: %v", err)
	}
	ccfg := concur.Config{BaseURL: u, AdminToken: simAdmin, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&ccfg)
	}
	c, err := concur.New(ccfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, s
}

func tokenRow(tok string) input.Row { return input.Row{Line: 2, Kind: input.KindToken, Token: tok} }

func userRow(user, key string) input.Row {
	return input.Row{Line: 3, Kind: input.KindUser, User: user, ConsumerKey: key}
}

func TestClientAgainstSimulator(t *testing.T) {
	t.Parallel()

	t.Run("token revoked, then not found", func(t *testing.T) {
		t.Parallel()
		c, s := against(t, sim.Config{}, nil)
		tok := "a+b/c=d&e f"
		s.AddToken(tok)

		first := c.Revoke(context.Background(), tokenRow(tok))
		if first.Status != revoke.Revoked || first.Err != nil || first.HTTPStatus != 200 || first.CorrelationID == "" {
			t.Errorf("first = %+v, want revoked with status 200 and a correlation ID", first)
		}
		if _, revoked := s.TokenRevoked(tok); !revoked {
			t.Errorf("the simulator still holds the token live")
		}
		second := c.Revoke(context.Background(), tokenRow(tok))
		if second.Status != revoke.NotFound || second.Retry || second.Fatal {
			t.Errorf("second = %+v, want not found", second)
		}
		if second.CorrelationID == first.CorrelationID {
			t.Errorf("both answers carry correlation ID %q, want one per request", first.CorrelationID)
		}
	})

	for _, param := range []string{"consumerKey", "client_id"} {
		t.Run("user row with "+param, func(t *testing.T) {
			t.Parallel()
			c, s := against(t, sim.Config{UserParam: param}, func(cfg *concur.Config) { cfg.UserParam = param })
			toks := s.AddUserTokens("vicky@example.com", "app 1", 2)

			if ans := c.Revoke(context.Background(), userRow("vicky@example.com", "app 1")); ans.Status != revoke.Revoked {
				t.Errorf("answer = %+v, want revoked", ans)
			}
			if known, revoked := s.UserRevoked("vicky@example.com", "app 1"); !known || !revoked {
				t.Errorf("UserRevoked = %v, %v; want known and revoked", known, revoked)
			}
			if _, revoked := s.TokenRevoked(toks[1]); !revoked {
				t.Errorf("a token of the user is still live")
			}
			if ans := c.Revoke(context.Background(), userRow("nobody", "app 1")); ans.Status != revoke.NotFound {
				t.Errorf("unknown user: %+v, want not found", ans)
			}
		})
	}

	t.Run("unknown token answered 400 is not found", func(t *testing.T) {
		t.Parallel()
		c, _ := against(t, sim.Config{UnknownTokenReply: sim.ReplyError400}, nil)
		if ans := c.Revoke(context.Background(), tokenRow("gone")); ans.Status != revoke.NotFound || ans.HTTPStatus != 400 {
			t.Errorf("answer = %+v, want not found from a 400", ans)
		}
	})

	t.Run("rotated admin token is suspect, and the probe is refused", func(t *testing.T) {
		t.Parallel()
		c, s := against(t, sim.Config{}, nil)
		s.AddToken("t1")
		s.SetAdminToken("the-new-one")

		ans := c.Revoke(context.Background(), tokenRow("t1"))
		if !ans.Suspect || ans.Fatal || ans.Retry || ans.Status != revoke.Failed || ans.HTTPStatus != 403 {
			t.Errorf("answer = %+v, want a suspect 403", ans)
		}
		var apiErr *concur.APIError
		if !errors.As(ans.Err, &apiErr) || !apiErr.Suspect() || !strings.Contains(apiErr.Error(), "expired or been revoked") {
			t.Errorf("Err = %v, want a suspect APIError quoting Concur", ans.Err)
		}
		probe := c.Probe(context.Background())
		if !probe.Suspect || probe.HTTPStatus != 403 || probe.Err == nil || !strings.Contains(probe.Err.Error(), "refused the administrator token") {
			t.Errorf("probe = %+v, want a 403 naming the administrator token", probe)
		}
		if _, revoked := s.TokenRevoked("t1"); revoked {
			t.Errorf("revoked with a retired admin token")
		}
	})

	t.Run("rate limit is throttled with Retry-After", func(t *testing.T) {
		t.Parallel()
		c, s := against(t, sim.Config{RateLimit: 0.01}, nil)
		s.AddToken("t1")
		s.AddToken("t2")
		_ = c.Revoke(context.Background(), tokenRow("t1"))

		ans := c.Revoke(context.Background(), tokenRow("t2"))
		if !ans.Retry || !ans.Throttled || ans.HTTPStatus != 429 || ans.RetryAfter < time.Second {
			t.Errorf("answer = %+v, want throttled 429 with a Retry-After", ans)
		}
	})

	faults := []struct {
		fault         sim.Fault
		wantStatus    int
		wantThrottled bool
		wantRevoked   bool // the simulator's state after the fault
	}{
		{fault: sim.Status503, wantStatus: 503},
		{fault: sim.Status429, wantStatus: 429, wantThrottled: true},
		{fault: sim.Status429Zero, wantStatus: 429, wantThrottled: true},
		{fault: sim.Status429NoHeader, wantStatus: 429, wantThrottled: true},
		{fault: sim.Status400Limit, wantStatus: 400, wantThrottled: true},
		{fault: sim.ResetBefore},
		{fault: sim.ResetAfter, wantRevoked: true},
		{fault: sim.Hang},
	}
	for _, tt := range faults {
		t.Run("fault "+tt.fault.String()+" is retried", func(t *testing.T) {
			t.Parallel()
			c, s := against(t, sim.Config{Fault: func(n int64, _ *http.Request) sim.Fault {
				if n == 1 {
					return tt.fault
				}
				return sim.None
			}}, func(cfg *concur.Config) { cfg.Timeout = time.Second })
			s.AddToken(faultToken)

			ans := c.Revoke(context.Background(), tokenRow(faultToken))
			if !ans.Retry || ans.Throttled != tt.wantThrottled || ans.HTTPStatus != tt.wantStatus || ans.Status != revoke.Failed || ans.Err == nil {
				t.Errorf("answer = %+v, want failed, retried, throttled=%v, status %d", ans, tt.wantThrottled, tt.wantStatus)
			}
			if _, revoked := s.TokenRevoked(faultToken); revoked != tt.wantRevoked {
				t.Errorf("revoked = %v, want %v", revoked, tt.wantRevoked)
			}
			if ans.Err != nil && strings.Contains(ans.Err.Error(), faultToken) {
				t.Errorf("Err %q holds the token", ans.Err)
			}
		})
	}

	t.Run("many workers on one client", func(t *testing.T) {
		t.Parallel()
		c, s := against(t, sim.Config{}, nil)
		toks := s.AddUserTokens("u", "k", 64)
		var wg sync.WaitGroup
		for _, tok := range toks {
			wg.Go(func() {
				if ans := c.Revoke(context.Background(), tokenRow(tok)); ans.Status != revoke.Revoked {
					t.Errorf("answer = %+v, want revoked", ans)
				}
			})
		}
		wg.Wait()
		if _, revoked := s.UserRevoked("u", "k"); !revoked {
			t.Errorf("not every token was revoked")
		}
		if st := s.Stats(); st.Requests != 64 || st.Revocations != 64 {
			t.Errorf("stats = %+v, want 64 requests and revocations, one per call", st)
		}
	})
}
