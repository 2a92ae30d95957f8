// Package sim simulates SAP Concur's legacy Revoke Token endpoint in
// process: the reply shapes the client must classify, token and user state,
// throttling, latency and injected faults, for tests and sandbox runs. It
// logs nothing, so it cannot leak a token.
package sim

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

const (
	// Path is the endpoint the simulator answers on.
	Path = "/net2/oauth2/revoketoken.ashx"
	// CorrelationHeader is Concur's request ID header, set on every reply.
	CorrelationHeader = "Concur-Correlationid"
)

// How an unknown or already revoked target is answered; Concur does not
// document it, so the client must cope with each.
const (
	// ReplyError200 is a 200 with <Error><Message>Invalid token…, as
	// Concur's SDK expects ("200, but Error in token payload").
	ReplyError200 = "200-error"
	// ReplyError400 is a 400 with the same Error body.
	ReplyError400 = "400-error"
	// ReplyEmpty200 is a 200 with an empty body, indistinguishable from a
	// revocation, as RFC 7009 servers answer.
	ReplyEmpty200 = "200-empty"
)

// Messages the simulator answers with; tests may match on them.
const (
	MsgInvalidToken = "Invalid token."
	MsgInvalidUser  = "No access tokens found for this user."
	MsgNoAuth       = "The Authorization header is missing or not accepted."
	MsgAdminExpired = "The OAuth token has expired or been revoked."
	MsgAdminRefused = "The OAuth token failed validation or lacks the Web Services Administrator role."
	MsgRequestLimit = "The number of requests received exceed the request limit."
	MsgTooMany      = "Too many requests. Slow down."
	MsgMaintenance  = "The service is unavailable for maintenance."
	MsgBothTargets  = "Specify either token, or consumerKey and user, not both."
	MsgForbidden    = "Access to this resource is forbidden."
)

// Fault is a failure injected into one request.
type Fault int

const (
	// None answers normally.
	None Fault = iota
	// Status503 answers 503 (maintenance) without acting.
	Status503
	// Status429 answers 429 with Retry-After: 1 without acting.
	Status429
	// Status429Zero answers 429 with Retry-After: 0, as in one of
	// Concur's documented examples.
	Status429Zero
	// Status429NoHeader answers 429 without Retry-After.
	Status429NoHeader
	// ResetBefore closes the connection (TCP reset) without acting.
	ResetBefore
	// ResetAfter acts (revokes), then closes the connection without
	// answering: the client cannot know that it succeeded.
	ResetAfter
	// Hang never acts nor answers: it holds the request until the client
	// gives up or the simulator closes.
	Hang
	// Status400Limit answers Concur's documented 400 "number of requests
	// received exceed the request limit" without acting.
	Status400Limit
	// Status403 answers 403 MsgForbidden without acting. Given to one
	// target's requests it is a refusal about that row; given to every
	// request, an administrator without the role.
	Status403
)

func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case Status503:
		return "503"
	case Status429:
		return "429"
	case Status429Zero:
		return "429-retry-after-0"
	case Status429NoHeader:
		return "429-no-retry-after"
	case ResetBefore:
		return "reset-before"
	case ResetAfter:
		return "reset-after"
	case Hang:
		return "hang"
	case Status400Limit:
		return "400-request-limit"
	case Status403:
		return "403"
	default:
		return "fault(" + strconv.Itoa(int(f)) + ")"
	}
}

// Config shapes a simulator. The zero value is a strict, fast, fault-free
// instance that accepts any administrator token and knows no tokens.
type Config struct {
	// AdminToken is the only accepted administrator token; "" accepts any
	// non-empty one.
	AdminToken string
	// UserParam is the query parameter that names the application:
	// "consumerKey", "client_id", or "" for either.
	UserParam string
	// Live treats every unknown token or user+key as live the first time
	// it is revoked (sandbox runs), and as revoked afterwards.
	Live bool
	// Dead, with Live, names the unknown tokens to treat as already
	// revoked instead, so that a sandbox run meets not_found too.
	Dead func(token string) bool
	// Latency, plus a uniform random part of Jitter, delays every answer.
	Latency time.Duration
	Jitter  time.Duration
	// RateLimit is the number of requests per second allowed, with a burst
	// of one second's worth; the excess gets 429 with Retry-After. 0 means
	// unlimited.
	RateLimit float64
	// RateLimitLater, when set, replaces RateLimit once LimitChangesAfter
	// has passed since the first request: a limit that rises or falls in the
	// middle of a run (another tenant starts or stops, a quota is raised).
	// The burst becomes a second's worth of the new limit.
	RateLimitLater    float64
	LimitChangesAfter time.Duration
	// WindowQuota, when set, allows that many requests per fixed Window
	// (windows start at the first request) and refuses the rest with 429
	// and a Retry-After of the time left to the window's end, rounded up
	// to whole seconds: a quota of N calls per period, as some gateways
	// count. It applies on top of RateLimit.
	WindowQuota int
	Window      time.Duration
	// RandomThrottle is the fraction of requests answered, before acting,
	// with 429 and Retry-After: 1 at random, whatever the rate: refusals
	// that say nothing about the client's speed (a shared gateway, another
	// tenant's burst).
	RandomThrottle float64
	// FaultRate is the fraction of requests answered, before acting, with
	// a transient fault: Status503 or Status429 at random.
	FaultRate float64
	// Seed makes jitter, random faults and generated tokens repeatable
	// (given the same order of requests).
	Seed int64
	// Fault, when set, chooses the fault of request n (counted from 1)
	// instead of FaultRate. It is called concurrently.
	Fault func(n int64, r *http.Request) Fault
	// UnknownTokenReply is ReplyError200 (the default, ""), ReplyError400
	// or ReplyEmpty200.
	UnknownTokenReply string
}

func (c Config) validate() error {
	switch c.UserParam {
	case "", "consumerKey", "client_id":
	default:
		return fmt.Errorf("user parameter %q: want consumerKey, client_id or empty", c.UserParam)
	}
	switch c.UnknownTokenReply {
	case "", ReplyError200, ReplyError400, ReplyEmpty200:
	default:
		return fmt.Errorf("unknown token reply %q: want %s, %s or %s", c.UnknownTokenReply, ReplyError200, ReplyError400, ReplyEmpty200)
	}
	switch {
	case c.Latency < 0 || c.Jitter < 0:
		return errors.New("negative latency or jitter")
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit):
		return fmt.Errorf("rate limit %v: want 0 or more", c.RateLimit)
	case c.RateLimitLater < 0 || math.IsNaN(c.RateLimitLater):
		return fmt.Errorf("later rate limit %v: want 0 or more", c.RateLimitLater)
	case c.RateLimitLater > 0 && c.LimitChangesAfter <= 0:
		return errors.New("a later rate limit needs the time it changes after")
	case c.WindowQuota < 0:
		return fmt.Errorf("window quota %d: want 0 or more", c.WindowQuota)
	case c.WindowQuota > 0 && c.Window <= 0:
		return errors.New("a window quota needs a window")
	case !(c.FaultRate >= 0 && c.FaultRate <= 1):
		return fmt.Errorf("fault rate %v: want 0 to 1", c.FaultRate)
	case !(c.RandomThrottle >= 0 && c.RandomThrottle <= 1):
		return fmt.Errorf("random throttle %v: want 0 to 1", c.RandomThrottle)
	}
	return nil
}

// Stats counts what the simulator saw.
type Stats struct {
	// Requests is every request that reached the handler, faults included.
	Requests int64
	// Revocations is the number of requests that changed state.
	Revocations int64
	// Faults is the number of requests given an injected fault.
	Faults int64
	// ByStatus counts answers by HTTP status; 0 counts requests that got
	// no answer (connection reset, hung, client gone).
	ByStatus map[int]int64
}

// Server is the simulated endpoint; it implements http.Handler and is safe
// for concurrent use.
type Server struct {
	cfg     Config
	limiter *rate.Limiter // nil: unlimited
	// first is when the first request arrived, in Unix nanoseconds (0
	// before it): the moving limit and the quota windows count from it.
	first      atomic.Int64
	limitMoved atomic.Bool
	idPrefix   string
	requests   atomic.Int64
	done       chan struct{}
	close      sync.Once

	mu         sync.Mutex
	rng        *rand.Rand
	admin      string
	retired    map[string]bool // admin tokens replaced by SetAdminToken
	retiredAll bool            // an accept-any admin was replaced: every other token is stale
	window     int64           // the quota window counted in windowUsed
	windowUsed int
	tokens     map[string]bool // token -> revoked
	users      map[userKey][]string
	stats      Stats
}

type userKey struct{ user, consumerKey string }

// New returns a simulator. It panics on an invalid Config, as a test set-up
// error; Start returns the error instead.
func New(cfg Config) *Server {
	if err := cfg.validate(); err != nil {
		panic("sim: " + err.Error())
	}
	seed := uint64(cfg.Seed)
	s := &Server{
		cfg:     cfg,
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		admin:   cfg.AdminToken,
		retired: map[string]bool{},
		tokens:  map[string]bool{},
		users:   map[userKey][]string{},
		stats:   Stats{ByStatus: map[int]int64{}},
	}
	s.idPrefix = fmt.Sprintf("%08x-%04x-%04x-%04x", s.rng.Uint32(), s.rng.Uint32()&0xffff, 0x4000|s.rng.Uint32()&0x0fff, 0x8000|s.rng.Uint32()&0x3fff)
	switch {
	case cfg.RateLimit > 0:
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), max(1, int(math.Ceil(cfg.RateLimit))))
	case cfg.RateLimitLater > 0:
		s.limiter = rate.NewLimiter(rate.Inf, 1) // unlimited until the change
	}
	return s
}

// AddToken makes token live (again, if it was revoked).
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = false
}

// AddUserTokens creates n live tokens of user for the application
// consumerKey and returns them. With n = 0 the pair is known but has
// nothing to revoke.
func (s *Server) AddUserTokens(user, consumerKey string, n int) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	s.mu.Lock()
	defer s.mu.Unlock()
	k := userKey{user, consumerKey}
	if _, ok := s.users[k]; !ok {
		s.users[k] = nil
	}
	out := make([]string, 0, max(n, 0))
	for len(out) < n {
		b := make([]byte, 32)
		for i := range b {
			b[i] = alphabet[s.rng.IntN(len(alphabet))]
		}
		tok := string(b)
		if _, taken := s.tokens[tok]; taken {
			continue
		}
		s.tokens[tok] = false
		s.users[k] = append(s.users[k], tok)
		out = append(out, tok)
	}
	return out
}

// TokenRevoked reports whether token is known, and whether it is revoked.
func (s *Server) TokenRevoked(token string) (known, revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	revoked, known = s.tokens[token]
	return known, revoked
}

// UserRevoked reports whether the user+key pair is known, and whether it
// has no live token left.
func (s *Server) UserRevoked(user, consumerKey string) (known, revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	toks, known := s.users[userKey{user, consumerKey}]
	return known, known && !s.anyLive(toks)
}

// SetAdminToken rotates the administrator token; "" accepts any. The
// previous token then gets 403 "the OAuth token has expired or been
// revoked", as when an admin token is revoked in the middle of a run.
func (s *Server) SetAdminToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == "" {
		s.retiredAll = true
	} else {
		s.retired[s.admin] = true
	}
	s.admin = tok
	delete(s.retired, tok)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = s.requests.Load()
	st.ByStatus = make(map[int]int64, len(s.stats.ByStatus))
	for code, n := range s.stats.ByStatus {
		st.ByStatus[code] = n
	}
	return st
}

// Close releases requests held by the Hang fault (their connections are
// reset), so that a server wrapping s can shut down; later Hang faults reset
// at once. The simulator keeps answering other requests.
func (s *Server) Close() {
	s.close.Do(func() { close(s.done) })
}

// answer is what the simulated endpoint decided for one request.
type answer struct {
	status     int
	message    string // non-empty: an Error body
	retryAfter string // non-empty: a Retry-After header
	revoked    bool   // the request changed state
}

// ServeHTTP answers one request in Concur's order: routing, throttling,
// authentication, parameters, then the revocation itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	w.Header().Set(CorrelationHeader, fmt.Sprintf("%s-%012x", s.idPrefix, n))
	s.first.CompareAndSwap(0, time.Now().UnixNano())

	if !s.sleep(r.Context(), s.delay()) {
		s.count(0, false)
		return
	}
	fault := s.fault(n, r)
	if fault != None {
		// Counted now, not when the request ends: a hung one may end late.
		s.mu.Lock()
		s.stats.Faults++
		s.mu.Unlock()
	}
	switch fault {
	case None, ResetAfter:
	case Status503:
		s.reply(w, r, answer{status: http.StatusServiceUnavailable, message: MsgMaintenance})
		return
	case Status429:
		s.reply(w, r, answer{status: http.StatusTooManyRequests, message: MsgTooMany, retryAfter: "1"})
		return
	case Status429Zero:
		s.reply(w, r, answer{status: http.StatusTooManyRequests, message: MsgTooMany, retryAfter: "0"})
		return
	case Status429NoHeader:
		s.reply(w, r, answer{status: http.StatusTooManyRequests, message: MsgTooMany})
		return
	case Status400Limit:
		s.reply(w, r, answer{status: http.StatusBadRequest, message: MsgRequestLimit})
		return
	case Status403:
		s.reply(w, r, answer{status: http.StatusForbidden, message: MsgForbidden})
		return
	case ResetBefore:
		s.count(0, false)
		reset(w)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		s.count(0, false)
		reset(w)
		return
	default:
		panic(fmt.Sprintf("sim: unknown fault %d", int(fault)))
	}

	a := s.decide(r)
	if fault == ResetAfter {
		s.count(0, a.revoked)
		reset(w)
		return
	}
	s.reply(w, r, a)
}

// decide validates the request and, when it is sound, revokes.
func (s *Server) decide(r *http.Request) answer {
	if !strings.EqualFold(r.URL.Path, Path) {
		return answer{status: http.StatusNotFound, message: "No HTTP resource matches the request URI " + r.URL.Path + "."}
	}
	if r.Method != http.MethodPost {
		return answer{status: http.StatusMethodNotAllowed, message: "The requested resource does not support http method '" + r.Method + "'."}
	}
	if a, ok := s.admit(); !ok {
		return a
	}
	if a, ok := s.authorize(r.Header.Get("Authorization")); !ok {
		return a
	}

	q := r.URL.Query()
	token, user := param(q, "token"), param(q, "user")
	keyName, key := "consumerKey", ""
	switch s.cfg.UserParam {
	case "":
		if key = param(q, "consumerKey"); key == "" {
			key = param(q, "client_id")
		}
	default:
		keyName = s.cfg.UserParam
		key = param(q, keyName)
	}
	switch {
	case token != "" && (user != "" || key != ""):
		return answer{status: http.StatusBadRequest, message: MsgBothTargets}
	case token != "":
		return s.revokeToken(token)
	case user != "" && key != "":
		return s.revokeUser(user, key)
	case user != "":
		return answer{status: http.StatusBadRequest, message: "Missing required parameter: " + keyName + "."}
	case key != "":
		return answer{status: http.StatusBadRequest, message: "Missing required parameter: user."}
	default:
		return answer{status: http.StatusBadRequest, message: "Missing required parameter: token, or " + keyName + " and user."}
	}
}

// admit applies the rate limit and the window quota; a refusal carries the
// Retry-After the server would send.
func (s *Server) admit() (answer, bool) {
	now := time.Now()
	since := now.Sub(time.Unix(0, s.first.Load()))
	if s.cfg.RateLimitLater > 0 && since >= s.cfg.LimitChangesAfter && s.limitMoved.CompareAndSwap(false, true) {
		s.limiter.SetLimitAt(now, rate.Limit(s.cfg.RateLimitLater))
		s.limiter.SetBurstAt(now, max(1, int(math.Ceil(s.cfg.RateLimitLater))))
	}
	if s.limiter != nil {
		res := s.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return throttle(d), false
		}
	}
	if s.cfg.WindowQuota > 0 {
		w := int64(since / s.cfg.Window)
		s.mu.Lock()
		defer s.mu.Unlock()
		if w != s.window {
			s.window, s.windowUsed = w, 0
		}
		if s.windowUsed >= s.cfg.WindowQuota {
			return throttle(time.Duration(w+1)*s.cfg.Window - since), false
		}
		s.windowUsed++
	}
	return answer{}, true
}

// throttle is a 429 whose Retry-After is d rounded up to whole seconds, at
// least one.
func throttle(d time.Duration) answer {
	secs := max(1, int64(math.Ceil(d.Seconds())))
	return answer{status: http.StatusTooManyRequests, message: MsgTooMany, retryAfter: strconv.FormatInt(secs, 10)}
}

// authorize checks "Authorization: OAuth {admin token}".
func (s *Server) authorize(header string) (answer, bool) {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(header), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "OAuth") || tok == "" {
		return answer{status: http.StatusUnauthorized, message: MsgNoAuth}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.admin == "" || tok == s.admin:
		return answer{}, true
	case s.retiredAll || s.retired[tok]:
		return answer{status: http.StatusForbidden, message: MsgAdminExpired}, false
	default:
		return answer{status: http.StatusForbidden, message: MsgAdminRefused}, false
	}
}

func (s *Server) revokeToken(token string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	revoked, known := s.tokens[token]
	switch {
	case known && !revoked, !known && s.cfg.Live && (s.cfg.Dead == nil || !s.cfg.Dead(token)):
		s.tokens[token] = true
		return answer{status: http.StatusOK, revoked: true}
	default:
		return s.unknown(MsgInvalidToken)
	}
}

// revokeUser revokes every token of the pair at once, as Concur does.
func (s *Server) revokeUser(user, consumerKey string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := userKey{user, consumerKey}
	toks, known := s.users[k]
	switch {
	case known && s.anyLive(toks):
		for _, t := range toks {
			s.tokens[t] = true
		}
		return answer{status: http.StatusOK, revoked: true}
	case !known && s.cfg.Live:
		s.users[k] = nil
		return answer{status: http.StatusOK, revoked: true}
	default:
		return s.unknown(MsgInvalidUser)
	}
}

// unknown answers for a target with nothing to revoke.
func (s *Server) unknown(msg string) answer {
	switch s.cfg.UnknownTokenReply {
	case ReplyError400:
		return answer{status: http.StatusBadRequest, message: msg}
	case ReplyEmpty200:
		return answer{status: http.StatusOK}
	default:
		return answer{status: http.StatusOK, message: msg}
	}
}

// anyLive must be called with s.mu held.
func (s *Server) anyLive(toks []string) bool {
	for _, t := range toks {
		if !s.tokens[t] {
			return true
		}
	}
	return false
}

// reply writes a: an empty 200, or Concur's Error body in XML, or in JSON
// when the client asks for it.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, a answer) {
	s.count(a.status, a.revoked)
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	if a.message == "" {
		w.WriteHeader(a.status)
		return
	}
	body := errorBody{
		Message:    a.message,
		ServerTime: time.Now().UTC().Format("2006-01-02T15:04:05"),
		ID:         w.Header().Get(CorrelationHeader),
	}
	var (
		b     []byte
		err   error
		ctype string
	)
	if wantsJSON(r.Header.Get("Accept")) {
		ctype = "application/json; charset=utf-8"
		b, err = json.Marshal(struct {
			Error errorBody `json:"Error"`
		}{body})
	} else {
		ctype = "application/xml; charset=utf-8"
		b, err = xml.Marshal(body)
	}
	if err != nil {
		panic("sim: encode error body: " + err.Error())
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

type errorBody struct {
	XMLName    xml.Name `xml:"Error" json:"-"`
	Message    string   `xml:"Message" json:"Message"`
	ServerTime string   `xml:"Server-Time" json:"Server-Time"`
	ID         string   `xml:"Id" json:"Id"`
}

func wantsJSON(accept string) bool {
	a := strings.ToLower(accept)
	return strings.Contains(a, "application/json") && !strings.Contains(a, "application/xml")
}

func (s *Server) count(status int, revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ByStatus[status]++
	if revoked {
		s.stats.Revocations++
	}
}

func (s *Server) delay() time.Duration {
	if s.cfg.Jitter <= 0 {
		return s.cfg.Latency
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Latency + time.Duration(s.rng.Int64N(int64(s.cfg.Jitter)))
}

func (s *Server) fault(n int64, r *http.Request) Fault {
	if s.cfg.Fault != nil {
		return s.cfg.Fault(n, r)
	}
	if s.cfg.FaultRate <= 0 && s.cfg.RandomThrottle <= 0 {
		return None
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.RandomThrottle > 0 && s.rng.Float64() < s.cfg.RandomThrottle {
		return Status429
	}
	if s.cfg.FaultRate <= 0 || s.rng.Float64() >= s.cfg.FaultRate {
		return None
	}
	if s.rng.IntN(2) == 0 {
		return Status503
	}
	return Status429
}

// sleep waits d, or less if the client leaves or the simulator closes; it
// reports whether the request should still be answered.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return true
	}
}

// reset drops the connection without an answer, with a TCP RST where it
// can, as a failing load balancer does.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: resets the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// param reads a query parameter by name, case-insensitively as ASP.NET does.
func param(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, vs := range q {
		if strings.EqualFold(k, name) && len(vs) > 0 && vs[0] != "" {
			return vs[0]
		}
	}
	return ""
}

// Running is a simulator serving on loopback.
type Running struct {
	*Server
	url  *url.URL
	stop func()
}

// Start serves a new simulator on 127.0.0.1 on a free port until Close.
func Start(cfg Config) (*Running, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulator: listen on loopback: %w", err)
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // its lines could quote a request
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	return &Running{
		Server: s,
		url:    &url.URL{Scheme: "http", Host: ln.Addr().String()},
		stop: sync.OnceFunc(func() {
			s.Close()
			_ = hs.Close()
			<-served
		}),
	}, nil
}

// URL returns the base URL to give a client, e.g. http://127.0.0.1:41234.
func (r *Running) URL() *url.URL {
	u := *r.url
	return &u
}

// Close stops serving, drops open connections and releases hung requests.
// It is safe to call more than once.
func (r *Running) Close() { r.stop() }
