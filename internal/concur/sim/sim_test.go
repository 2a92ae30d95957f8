package sim

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const admin = "admin-token-for-tests"

// reply is one answer as a client sees it.
type reply struct {
	status  int
	header  http.Header
	body    string
	message string // the Error body's Message, "" without one
	id      string // the Error body's Id
}

// request describes one call; zero fields get the usual values.
type request struct {
	method string // POST
	path   string // Path
	query  url.Values
	auth   string // "OAuth " + admin; "-" sends none
	accept string // application/xml
}

// send sends rq; it only returns errors, so that it can run off the test's
// goroutine.
func send(c *http.Client, base string, rq request) (reply, error) {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	if rq.path == "" {
		rq.path = Path
	}
	if rq.auth == "" {
		rq.auth = "OAuth " + admin
	}
	if rq.accept == "" {
		rq.accept = "application/xml"
	}
	u := base + rq.path
	if rq.query != nil {
		u += "?" + rq.query.Encode()
	}
	req, err := http.NewRequest(rq.method, u, http.NoBody)
	if err != nil {
		return reply{}, fmt.Errorf("build request: %w", err)
	}
	if rq.auth != "-" {
		req.Header.Set("Authorization", rq.auth)
	}
	req.Header.Set("Accept", rq.accept)
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rep := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if len(b) > 0 {
		var e errorBody
		if strings.Contains(resp.Header.Get("Content-Type"), "json") {
			var doc struct{ Error errorBody }
			if err := json.Unmarshal(b, &doc); err != nil {
				return reply{}, fmt.Errorf("JSON error body %q: %w", b, err)
			}
			e = doc.Error
		} else if err := xml.Unmarshal(b, &e); err != nil {
			return reply{}, fmt.Errorf("XML error body %q: %w", b, err)
		}
		rep.message, rep.id = e.Message, e.ID
	}
	return rep, nil
}

// mustSend sends rq and fails the test on a transport error.
func mustSend(t *testing.T, base string, rq request) reply {
	t.Helper()
	rep, err := send(http.DefaultClient, base, rq)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return rep
}

func tokenQuery(tok string) url.Values { return url.Values{"token": {tok}} }

func userQuery(param, user, key string) url.Values {
	return url.Values{param: {key}, "user": {user}}
}

func TestServerAnswersLikeConcur(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cfg         Config
		anyAdmin    bool // leave Config.AdminToken empty
		rq          request
		wantStatus  int
		wantMessage string // "" wants an empty body
		wantJSON    bool
	}{
		{name: "live token is revoked with an empty 200", rq: request{query: tokenQuery("live")}, wantStatus: 200},
		{name: "unknown token answers 200 with an Error", rq: request{query: tokenQuery("nope")}, wantStatus: 200, wantMessage: MsgInvalidToken},
		{name: "unknown token as 400", cfg: Config{UnknownTokenReply: ReplyError400}, rq: request{query: tokenQuery("nope")}, wantStatus: 400, wantMessage: MsgInvalidToken},
		{name: "unknown token as empty 200", cfg: Config{UnknownTokenReply: ReplyEmpty200}, rq: request{query: tokenQuery("nope")}, wantStatus: 200},
		{name: "unknown user answers 200 with an Error", rq: request{query: userQuery("consumerKey", "u", "k")}, wantStatus: 200, wantMessage: MsgInvalidUser},
		{name: "JSON Error when asked for", rq: request{query: tokenQuery("nope"), accept: "application/json"}, wantStatus: 200, wantMessage: MsgInvalidToken, wantJSON: true},
		{name: "wrong path is 404", rq: request{path: "/net2/oauth2/revoke.ashx", query: tokenQuery("live")}, wantStatus: 404, wantMessage: "No HTTP resource matches the request URI /net2/oauth2/revoke.ashx."},
		{name: "GET is 405", rq: request{method: http.MethodGet, query: tokenQuery("live")}, wantStatus: 405, wantMessage: "The requested resource does not support http method 'GET'."},
		{name: "no Authorization is 401", rq: request{auth: "-", query: tokenQuery("live")}, wantStatus: 401, wantMessage: MsgNoAuth},
		{name: "Bearer scheme is 401", rq: request{auth: "Bearer " + admin, query: tokenQuery("live")}, wantStatus: 401, wantMessage: MsgNoAuth},
		{name: "OAuth without token is 401", rq: request{auth: "OAuth ", query: tokenQuery("live")}, wantStatus: 401, wantMessage: MsgNoAuth},
		{name: "wrong admin token is 403", rq: request{auth: "OAuth someone-else", query: tokenQuery("live")}, wantStatus: 403, wantMessage: MsgAdminRefused},
		{name: "any admin token when none is set", anyAdmin: true, rq: request{auth: "oauth whoever", query: tokenQuery("live")}, wantStatus: 200},
		{name: "token and user both is 400", rq: request{query: url.Values{"token": {"live"}, "user": {"u"}, "consumerKey": {"k"}}}, wantStatus: 400, wantMessage: MsgBothTargets},
		{name: "user without consumerKey is 400", rq: request{query: url.Values{"user": {"u"}}}, wantStatus: 400, wantMessage: "Missing required parameter: consumerKey."},
		{name: "consumerKey without user is 400", rq: request{query: url.Values{"consumerKey": {"k"}}}, wantStatus: 400, wantMessage: "Missing required parameter: user."},
		{name: "no parameter is 400", rq: request{}, wantStatus: 400, wantMessage: "Missing required parameter: token, or consumerKey and user."},
		{name: "empty token is 400", rq: request{query: tokenQuery("")}, wantStatus: 400, wantMessage: "Missing required parameter: token, or consumerKey and user."},
		{name: "consumerKey refused when client_id is configured", cfg: Config{UserParam: "client_id"}, rq: request{query: userQuery("consumerKey", "u", "k")}, wantStatus: 400, wantMessage: "Missing required parameter: client_id."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !tt.anyAdmin {
				tt.cfg.AdminToken = admin
			}
			s := New(tt.cfg)
			s.AddToken("live")
			srv := httptest.NewServer(s)
			defer srv.Close()

			rep := mustSend(t, srv.URL, tt.rq)
			if rep.status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", rep.status, tt.wantStatus, rep.body)
			}
			id := rep.header.Get(CorrelationHeader)
			if id == "" {
				t.Errorf("no %s header", CorrelationHeader)
			}
			if tt.wantMessage == "" {
				if rep.body != "" {
					t.Errorf("body = %q, want empty", rep.body)
				}
				return
			}
			if rep.message != tt.wantMessage {
				t.Errorf("message = %q, want %q", rep.message, tt.wantMessage)
			}
			if rep.id != id {
				t.Errorf("Error Id = %q, want the correlation ID %q", rep.id, id)
			}
			ctype := rep.header.Get("Content-Type")
			if tt.wantJSON != strings.HasPrefix(ctype, "application/json") || (!tt.wantJSON && !strings.HasPrefix(ctype, "application/xml")) {
				t.Errorf("Content-Type = %q, want JSON %v", ctype, tt.wantJSON)
			}
			if !tt.wantJSON && !strings.Contains(rep.body, "<Server-Time>") {
				t.Errorf("body %q has no Server-Time", rep.body)
			}
		})
	}
}

func TestServerKeepsState(t *testing.T) {
	t.Parallel()

	t.Run("token revoked once", func(t *testing.T) {
		t.Parallel()
		s := New(Config{AdminToken: admin})
		s.AddToken("t1")
		s.AddToken("t2")
		srv := httptest.NewServer(s)
		defer srv.Close()

		if known, revoked := s.TokenRevoked("t1"); !known || revoked {
			t.Fatalf("before: known=%v revoked=%v, want known and live", known, revoked)
		}
		if rep := mustSend(t, srv.URL, request{query: tokenQuery("t1")}); rep.status != 200 || rep.body != "" {
			t.Fatalf("first revocation: %d %q, want an empty 200", rep.status, rep.body)
		}
		if rep := mustSend(t, srv.URL, request{query: tokenQuery("t1")}); rep.message != MsgInvalidToken {
			t.Errorf("second revocation: %d %q, want %q", rep.status, rep.body, MsgInvalidToken)
		}
		if known, revoked := s.TokenRevoked("t1"); !known || !revoked {
			t.Errorf("t1: known=%v revoked=%v, want known and revoked", known, revoked)
		}
		if _, revoked := s.TokenRevoked("t2"); revoked {
			t.Errorf("t2 revoked, want it untouched")
		}
		if known, _ := s.TokenRevoked("other"); known {
			t.Errorf("an unknown token is reported known")
		}
		if st := s.Stats(); st.Requests != 2 || st.Revocations != 1 || st.ByStatus[200] != 2 {
			t.Errorf("stats = %+v, want 2 requests, 1 revocation, 2 answered 200", st)
		}
	})

	for _, param := range []string{"consumerKey", "client_id"} {
		t.Run("user revocation with "+param+" revokes all the pair's tokens", func(t *testing.T) {
			t.Parallel()
			s := New(Config{AdminToken: admin})
			toks := s.AddUserTokens("vicky@example.com", "app-1", 3)
			other := s.AddUserTokens("vicky@example.com", "app-2", 1)
			srv := httptest.NewServer(s)
			defer srv.Close()

			if len(toks) != 3 || toks[0] == toks[1] {
				t.Fatalf("AddUserTokens = %q, want 3 distinct tokens", toks)
			}
			if rep := mustSend(t, srv.URL, request{query: userQuery(param, "vicky@example.com", "app-1")}); rep.status != 200 || rep.body != "" {
				t.Fatalf("revocation: %d %q, want an empty 200", rep.status, rep.body)
			}
			for _, tok := range toks {
				if _, revoked := s.TokenRevoked(tok); !revoked {
					t.Errorf("a token of the pair is still live")
				}
			}
			if known, revoked := s.UserRevoked("vicky@example.com", "app-1"); !known || !revoked {
				t.Errorf("UserRevoked = %v, %v; want known and revoked", known, revoked)
			}
			if _, revoked := s.TokenRevoked(other[0]); revoked {
				t.Errorf("the user's token for another application was revoked")
			}
			if rep := mustSend(t, srv.URL, request{query: userQuery(param, "vicky@example.com", "app-1")}); rep.message != MsgInvalidUser {
				t.Errorf("second revocation: %d %q, want %q", rep.status, rep.body, MsgInvalidUser)
			}
		})
	}

	t.Run("live mode revokes unknown targets once", func(t *testing.T) {
		t.Parallel()
		s := New(Config{AdminToken: admin, Live: true})
		srv := httptest.NewServer(s)
		defer srv.Close()

		for _, q := range []url.Values{tokenQuery("never-seen"), userQuery("consumerKey", "u", "k")} {
			if rep := mustSend(t, srv.URL, request{query: q}); rep.status != 200 || rep.body != "" {
				t.Errorf("%v first: %d %q, want an empty 200", q, rep.status, rep.body)
			}
			if rep := mustSend(t, srv.URL, request{query: q}); rep.message == "" {
				t.Errorf("%v again: %d %q, want an Error", q, rep.status, rep.body)
			}
		}
		if known, revoked := s.TokenRevoked("never-seen"); !known || !revoked {
			t.Errorf("TokenRevoked = %v, %v; want known and revoked", known, revoked)
		}
		if known, revoked := s.UserRevoked("u", "k"); !known || !revoked {
			t.Errorf("UserRevoked = %v, %v; want known and revoked", known, revoked)
		}
	})
}

func TestServerRotatesAdminToken(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin})
	s.AddToken("t1")
	s.AddToken("t2")
	srv := httptest.NewServer(s)
	defer srv.Close()

	if rep := mustSend(t, srv.URL, request{query: tokenQuery("t1")}); rep.status != 200 {
		t.Fatalf("before rotation: %d, want 200", rep.status)
	}
	s.SetAdminToken("new-admin")
	rep := mustSend(t, srv.URL, request{query: tokenQuery("t2")})
	if rep.status != 403 || rep.message != MsgAdminExpired {
		t.Errorf("old token after rotation: %d %q, want 403 %q", rep.status, rep.message, MsgAdminExpired)
	}
	if _, revoked := s.TokenRevoked("t2"); revoked {
		t.Errorf("t2 revoked with a retired admin token")
	}
	if rep := mustSend(t, srv.URL, request{auth: "OAuth new-admin", query: tokenQuery("t2")}); rep.status != 200 || rep.body != "" {
		t.Errorf("new token: %d %q, want an empty 200", rep.status, rep.body)
	}
}

func TestServerRateLimits(t *testing.T) {
	t.Parallel()
	// One request per 100 s with a burst of one: the second is refused
	// however slow the machine.
	s := New(Config{AdminToken: admin, RateLimit: 0.01})
	s.AddToken("t1")
	s.AddToken("t2")
	srv := httptest.NewServer(s)
	defer srv.Close()

	if rep := mustSend(t, srv.URL, request{query: tokenQuery("t1")}); rep.status != 200 {
		t.Fatalf("first: %d, want 200", rep.status)
	}
	rep := mustSend(t, srv.URL, request{query: tokenQuery("t2")})
	if rep.status != 429 || rep.message != MsgTooMany {
		t.Fatalf("second: %d %q, want 429", rep.status, rep.body)
	}
	secs, err := strconv.Atoi(rep.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 100 {
		t.Errorf("Retry-After = %q, want 1 to 100 seconds", rep.header.Get("Retry-After"))
	}
	if _, revoked := s.TokenRevoked("t2"); revoked {
		t.Errorf("a throttled request revoked its token")
	}
}

func TestServerLimitMoves(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
		// want is the status of each of four requests in a row.
		want []int
	}{
		// The change is an hour away: the first limit (one request per
		// 100 s, burst one) holds.
		{"before the change", Config{RateLimit: 0.01, RateLimitLater: 1e6, LimitChangesAfter: time.Hour}, []int{200, 429, 429, 429}},
		// The limit rises a nanosecond after the first request.
		{"rises", Config{RateLimit: 0.01, RateLimitLater: 1e6, LimitChangesAfter: time.Nanosecond}, []int{200, 200, 200, 200}},
		// Unlimited, then one per 100 s with a burst of one: the request
		// that moves it may take the one token left; the next cannot.
		{"falls from unlimited", Config{RateLimitLater: 0.01, LimitChangesAfter: time.Nanosecond}, []int{200, -1, 429, 429}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.AdminToken, tc.cfg.Live = admin, true
			srv := httptest.NewServer(New(tc.cfg))
			defer srv.Close()
			for i, want := range tc.want {
				rep := mustSend(t, srv.URL, request{query: tokenQuery(fmt.Sprintf("t%d", i))})
				if want >= 0 && rep.status != want {
					t.Errorf("request %d: %d %q, want %d", i+1, rep.status, rep.message, want)
				}
				if rep.status == 429 && rep.header.Get("Retry-After") == "" {
					t.Errorf("request %d: 429 without Retry-After", i+1)
				}
			}
		})
	}
}

func TestServerWindowQuota(t *testing.T) {
	t.Parallel()
	// Three requests an hour: the fourth is refused until the window ends,
	// and Retry-After says when that is.
	s := New(Config{AdminToken: admin, Live: true, WindowQuota: 3, Window: time.Hour})
	srv := httptest.NewServer(s)
	defer srv.Close()
	for i := range 3 {
		if rep := mustSend(t, srv.URL, request{query: tokenQuery(fmt.Sprintf("t%d", i))}); rep.status != 200 {
			t.Fatalf("request %d: %d, want 200 inside the quota", i+1, rep.status)
		}
	}
	rep := mustSend(t, srv.URL, request{query: tokenQuery("t3")})
	if rep.status != 429 || rep.message != MsgTooMany {
		t.Fatalf("fourth: %d %q, want 429", rep.status, rep.body)
	}
	// Lower bound only: a slow machine makes it shorter, never longer.
	if secs, err := strconv.Atoi(rep.header.Get("Retry-After")); err != nil || secs > 3600 || secs < 3000 {
		t.Errorf("Retry-After = %q, want the rest of the hour", rep.header.Get("Retry-After"))
	}
	if st := s.Stats(); st.Revocations != 3 || st.ByStatus[429] != 1 {
		t.Errorf("stats %+v, want 3 revocations and one 429", st)
	}
}

func TestServerRandomThrottle(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin, Live: true, RandomThrottle: 0.5, Seed: 7})
	srv := httptest.NewServer(s)
	defer srv.Close()
	const n = 200
	refused := 0
	for i := range n {
		rep := mustSend(t, srv.URL, request{query: tokenQuery(fmt.Sprintf("t%d", i))})
		switch rep.status {
		case 429:
			refused++
			if rep.header.Get("Retry-After") != "1" {
				t.Errorf("random 429 with Retry-After %q, want 1", rep.header.Get("Retry-After"))
			}
		case 200:
		default:
			t.Fatalf("status %d, want 200 or 429", rep.status)
		}
	}
	// Half at random: 200 draws land within 60..140 but for a one in a
	// billion seed; the seed is fixed, so this cannot flake.
	if refused < 60 || refused > 140 {
		t.Errorf("%d of %d refused, want about half", refused, n)
	}
	if st := s.Stats(); st.Revocations != int64(n-refused) || st.Faults != int64(refused) {
		t.Errorf("stats %+v: want every refusal counted as a fault, and no revocation for it", st)
	}
}

func TestServerFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault          Fault
		wantStatus     int // 0: the client sees a transport error
		wantRetryAfter string
		wantMessage    string
		wantRevoked    bool
	}{
		{fault: Status503, wantStatus: 503, wantMessage: MsgMaintenance},
		{fault: Status429, wantStatus: 429, wantRetryAfter: "1", wantMessage: MsgTooMany},
		{fault: Status429Zero, wantStatus: 429, wantRetryAfter: "0", wantMessage: MsgTooMany},
		{fault: Status429NoHeader, wantStatus: 429, wantMessage: MsgTooMany},
		{fault: Status400Limit, wantStatus: 400, wantMessage: MsgRequestLimit},
		{fault: Status403, wantStatus: 403, wantMessage: MsgForbidden},
		{fault: ResetBefore},
		{fault: ResetAfter, wantRevoked: true},
		{fault: Hang},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			s := New(Config{AdminToken: admin, Fault: func(n int64, _ *http.Request) Fault {
				if n == 1 {
					return tt.fault
				}
				return None
			}})
			s.AddToken("t1")
			srv := httptest.NewServer(s)
			defer srv.Close()

			client := &http.Client{Timeout: 5 * time.Second}
			if tt.fault == Hang {
				client.Timeout = 100 * time.Millisecond
			}
			rep, err := send(client, srv.URL, request{query: tokenQuery("t1")})
			switch {
			case tt.wantStatus == 0 && err == nil:
				t.Errorf("got %d %q, want a transport error", rep.status, rep.body)
			case tt.wantStatus != 0 && err != nil:
				t.Fatalf("send: %v", err)
			case tt.wantStatus != 0:
				if rep.status != tt.wantStatus || rep.message != tt.wantMessage {
					t.Errorf("got %d %q, want %d %q", rep.status, rep.message, tt.wantStatus, tt.wantMessage)
				}
				got, has := rep.header.Get("Retry-After"), rep.header.Values("Retry-After") != nil
				if got != tt.wantRetryAfter || has != (tt.wantRetryAfter != "") {
					t.Errorf("Retry-After = %q (present %v), want %q", got, has, tt.wantRetryAfter)
				}
			}
			if tt.fault == Hang {
				var ue *url.Error
				if !errors.As(err, &ue) || !ue.Timeout() {
					t.Errorf("err = %v, want a client timeout", err)
				}
			}
			if _, revoked := s.TokenRevoked("t1"); revoked != tt.wantRevoked {
				t.Errorf("revoked = %v, want %v", revoked, tt.wantRevoked)
			}
			// The fault was for request 1 only: the next one is served.
			rep = mustSend(t, srv.URL, request{query: tokenQuery("t1")})
			if want := map[bool]string{false: "", true: MsgInvalidToken}[tt.wantRevoked]; rep.status != 200 || rep.message != want {
				t.Errorf("after the fault: %d %q, want 200 %q", rep.status, rep.message, want)
			}
			if st := s.Stats(); st.Requests != 2 || st.Faults != 1 {
				t.Errorf("stats = %+v, want 2 requests, 1 fault", st)
			}
		})
	}
}

func TestServerFaultRate(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin, FaultRate: 1, Seed: 42})
	s.AddToken("t1")
	srv := httptest.NewServer(s)
	defer srv.Close()

	seen := map[int]bool{}
	for range 20 {
		rep := mustSend(t, srv.URL, request{query: tokenQuery("t1")})
		if rep.status != 503 && rep.status != 429 {
			t.Fatalf("status %d, want 503 or 429 for every request", rep.status)
		}
		seen[rep.status] = true
	}
	if !seen[503] || !seen[429] {
		t.Errorf("statuses seen %v, want both 503 and 429", seen)
	}
	if _, revoked := s.TokenRevoked("t1"); revoked {
		t.Errorf("a faulted request revoked its token")
	}
	if st := s.Stats(); st.Faults != 20 || st.Revocations != 0 {
		t.Errorf("stats = %+v, want 20 faults, no revocation", st)
	}
}

func TestServerLatencyOutlastsTimeout(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin, Latency: time.Minute})
	s.AddToken("t1")
	srv := httptest.NewServer(s)
	defer srv.Close()

	client := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := send(client, srv.URL, request{query: tokenQuery("t1")}); err == nil {
		t.Errorf("got an answer, want the client to time out first")
	}
	if _, revoked := s.TokenRevoked("t1"); revoked {
		t.Errorf("revoked although the client left before the answer")
	}
}

func TestServerConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin, Jitter: time.Millisecond, FaultRate: 0.2, Seed: 1})
	toks := s.AddUserTokens("u", "k", 40)
	srv := httptest.NewServer(s)
	defer srv.Close()

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for _, tok := range toks[i*5 : i*5+5] {
				for {
					rep, err := send(http.DefaultClient, srv.URL, request{query: tokenQuery(tok)})
					if err != nil {
						t.Error(err)
						return
					}
					if rep.status == 200 {
						break
					}
				}
				s.TokenRevoked(tok)
				s.Stats()
			}
		})
	}
	// The same token from many clients: only one changes state.
	s.AddToken("shared")
	results := make(chan reply, 8)
	for range 8 {
		wg.Go(func() {
			for {
				rep, err := send(http.DefaultClient, srv.URL, request{query: tokenQuery("shared")})
				if err != nil {
					t.Error(err)
					return
				}
				if rep.status == 200 {
					results <- rep
					return
				}
			}
		})
	}
	wg.Wait()
	close(results)

	empty := 0
	for rep := range results {
		if rep.body == "" {
			empty++
		}
	}
	if empty != 1 {
		t.Errorf("%d clients were told they revoked the shared token, want 1", empty)
	}
	if known, revoked := s.UserRevoked("u", "k"); !known || !revoked {
		t.Errorf("UserRevoked = %v, %v; want every token revoked", known, revoked)
	}
	st := s.Stats()
	var answered int64
	for _, n := range st.ByStatus {
		answered += n
	}
	if st.Revocations != 41 || answered != st.Requests {
		t.Errorf("stats = %+v, want 41 revocations and every request counted by status", st)
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	if _, err := Start(Config{UnknownTokenReply: "404"}); err == nil {
		t.Errorf("Start accepted an invalid config")
	}

	run, err := Start(Config{AdminToken: admin, Fault: func(n int64, _ *http.Request) Fault {
		if n == 2 {
			return Hang
		}
		return None
	}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	u := run.URL()
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Errorf("URL = %s, want http://127.0.0.1:port", u)
	}
	run.AddToken("t1")
	if rep := mustSend(t, u.String(), request{query: tokenQuery("t1")}); rep.status != 200 {
		t.Errorf("status = %d, want 200", rep.status)
	}

	// A hung request must not keep Close from returning.
	hung := make(chan error, 1)
	go func() {
		_, err := send(&http.Client{}, u.String(), request{query: tokenQuery("t1")})
		hung <- err
	}()
	for run.Stats().Requests < 2 {
		time.Sleep(time.Millisecond)
	}
	run.Close()
	run.Close()
	if err := <-hung; err == nil {
		t.Errorf("the hung request got an answer, want a dropped connection")
	}
	if _, err := send(&http.Client{}, u.String(), request{query: tokenQuery("t1")}); err == nil {
		t.Errorf("a request after Close was answered")
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{UserParam: "clientId"},
		{UnknownTokenReply: "500"},
		{RateLimit: -1},
		{RateLimitLater: 10},
		{WindowQuota: 10},
		{RandomThrottle: 1.5},
		{FaultRate: 1.5},
		{Latency: -time.Second},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", cfg)
				}
			}()
			New(cfg)
		}()
	}
}

func TestCorrelationIDsAreUnique(t *testing.T) {
	t.Parallel()
	s := New(Config{AdminToken: admin})
	srv := httptest.NewServer(s)
	defer srv.Close()

	seen := map[string]bool{}
	for range 10 {
		id := mustSend(t, srv.URL, request{query: tokenQuery("x")}).header.Get(CorrelationHeader)
		if id == "" || seen[id] {
			t.Fatalf("correlation ID %q empty or repeated", id)
		}
		seen[id] = true
	}
}
