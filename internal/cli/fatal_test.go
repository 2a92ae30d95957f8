package cli

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// testCA stands for the CA an operator trusts: every run in these tests
// trusts it and nothing else.
var testCA = testutil.NewCA()

func init() { rootCAs = testCA.Pool() }

// TestForbiddenOneRow: a 403 for one row while the administrator's token
// works (a probe shows it) is that row's failure; every other row is done.
func TestForbiddenOneRow(t *testing.T) {
	t.Parallel()
	var bad atomic.Value
	srv, seen := countingServer(t, sim.Config{Fault: func(_ int64, r *http.Request) sim.Fault {
		if requestKey(r) == bad.Load() {
			return sim.Status403
		}
		return sim.None
	}}, nil)
	rows := liveRows(srv.Server, "f", 40, 10)
	bad.Store(rows[17].key)
	in := writeRows(t, t.TempDir(), "in.csv", rows)
	out := outPath(t, "out.csv")

	res, sum := runJob(t, srv, testAdminToken, "--rate", "0", "--concurrency", "4", "--out", out, in.path)
	if res.code != ExitRows {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitRows, res.stderr)
	}
	got := readOutcomes(t, out)
	if len(got) != 50 {
		t.Fatalf("%d outcomes for 50 rows", len(got))
	}
	revoked := 0
	for line, o := range got {
		if in.rows[line].key == bad.Load() {
			if o.Status != revoke.Failed || o.HTTPStatus != 403 || o.Attempts != 1 || !strings.Contains(o.Error, sim.MsgForbidden) {
				t.Errorf("the forbidden row: %+v, want failed after one 403 with Concur's message", o)
			}
			continue
		}
		if o.Status == revoke.Revoked && revokedOnServer(srv.Server, in.rows[line].key) {
			revoked++
		}
	}
	if revoked != 49 {
		t.Errorf("%d rows revoked, want 49", revoked)
	}
	if n := seen.requestsFor(bad.Load().(string)); n != 1 {
		t.Errorf("the forbidden row was sent %d times, want once", n)
	}
	if sum.Probes != 1 || srv.hits.Load() != 50+1 || sum.Unrecorded != 0 {
		t.Errorf("%d probes, %d requests at the server, %d unrecorded: want 1 probe and 51 requests", sum.Probes, srv.hits.Load(), sum.Unrecorded)
	}
}

// TestForbiddenEveryRequest: an administrator without the role is refused
// everything, the probe too: the run stops at once, as on any rejected
// credentials, and --resume with a working token finishes it.
func TestForbiddenEveryRequest(t *testing.T) {
	t.Parallel()
	const concurrency = 4
	var noRole atomic.Bool
	noRole.Store(true)
	srv, _ := countingServer(t, sim.Config{Fault: func(int64, *http.Request) sim.Fault {
		if noRole.Load() {
			return sim.Status403
		}
		return sim.None
	}}, nil)
	in := writeRows(t, t.TempDir(), "in.csv", liveRows(srv.Server, "r", 80, 20))
	out := outPath(t, "out.csv")

	res, first := runJob(t, srv, testAdminToken, "--rate", "0", "--concurrency", "4", "--out", out, in.path)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
	}
	for _, want := range []string{"403", sim.MsgForbidden, "probe", "refused the administrator token", "--resume"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
		}
	}
	if n := srv.hits.Load(); n > concurrency+first.Probes || first.Probes < 1 || first.Probes > 2 {
		t.Errorf("%d requests with %d probes: want at most the %d in flight and the probes", n, first.Probes, concurrency)
	}
	if got := readOutcomes(t, out); len(got) != 0 {
		t.Errorf("%d rows recorded; rows refused with the credentials must be left for --resume", len(got))
	}

	noRole.Store(false) // the role is granted
	res, second := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--concurrency", "4", "--out", out, in.path)
	if res.code != ExitOK {
		t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
	}
	checkExact(t, srv, in, out, first.Unrecorded+first.Probes+second.Unrecorded+second.Probes)
}

// unreachableCase is a way for every request to fail before any answer.
type unreachableCase struct {
	name string
	cert func(testing.TB) tls.Certificate // nil: httptest's own certificate, an unknown authority
	// closed: no server at all, a loopback port that refuses connections.
	closed bool
	want   []string
}

func unreachableCases() []unreachableCase {
	return []unreachableCase{
		{name: "unknown authority", want: []string{"TLS certificate is signed by an unknown authority", "SSL_CERT_FILE", "SSL_CERT_DIR"}},
		{name: "wrong host", cert: testCA.WrongHost, want: []string{"TLS certificate is not valid for the host", "127.0.0.1", "SSL_CERT_FILE"}},
		{name: "expired", cert: testCA.Expired, want: []string{"TLS certificate has expired", "SSL_CERT_FILE"}},
		{name: "connection refused", closed: true, want: []string{"cannot connect to the server", "connection refused", "3 attempts"}},
	}
}

// TestStopsWhenNoRowCanSucceed: a certificate that cannot be verified, or a
// server that refuses every connection, stops the run after at most the
// requests in flight (each through its attempts, for a refused
// connection); nothing is recorded, and --resume against a sound server
// sends every row.
func TestStopsWhenNoRowCanSucceed(t *testing.T) {
	t.Parallel()
	const concurrency, attempts = 4, 3
	for _, provider := range []string{ProviderConcur, ProviderRFC7009} {
		for _, tc := range unreachableCases() {
			t.Run(provider+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var hits atomic.Int64
				var badURL string
				var handshakes func() int64
				if tc.closed {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					badURL = "http://" + ln.Addr().String()
					ln.Close()
				} else {
					var cert *tls.Certificate
					if tc.cert != nil {
						c := tc.cert(t)
						cert = &c
					}
					bad := testutil.NewTLSServer(t, cert, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
					badURL, handshakes = bad.URL, bad.Handshakes
				}

				// The sound server, for the resume: a simulator behind a
				// certificate the test CA signed for 127.0.0.1.
				loopback := testCA.Loopback(t)
				simSrv := sim.New(sim.Config{AdminToken: testAdminToken})
				rfc := &rfcServer{seen: map[string]int{}}
				var handler http.Handler = simSrv
				if provider == ProviderRFC7009 {
					handler = http.HandlerFunc(rfc.serve)
				}
				good := testutil.NewTLSServer(t, &loopback, handler)

				dir := t.TempDir()
				var b strings.Builder
				b.WriteString("token\n")
				var tokens []string
				for i := range 40 {
					tok := "tok-unreach-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
					simSrv.AddToken(tok)
					tokens = append(tokens, tok)
					b.WriteString(tok + "\n")
				}
				in := writeFile(t, dir, "in.csv", b.String())
				out := filepath.Join(dir, "out.csv")

				run := func(url string, extra ...string) (result, finished) {
					args := []string{"run", "--log-format", "json", "--rate", "0", "--concurrency", "4", "--max-attempts", "3", "--out", out}
					env := map[string]string{EnvAdminToken: testAdminToken, EnvClientSecret: rfcSecret}
					if provider == ProviderRFC7009 {
						args = append(args, "--provider", "rfc7009", "--client-id", rfcClientID, "--revoke-url", url+"/oauth2/v1/revoke")
					} else {
						args = append(args, "--base-url", url)
					}
					res := runMain(t, t.Context(), env, "", append(append(args, extra...), in)...)
					return res, finishedLine(t, res.stderr)
				}

				res, first := run(badURL)
				if res.code != ExitStopped {
					t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
				}
				for _, want := range append(tc.want, "--resume") {
					if !strings.Contains(res.stderr, want) {
						t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
					}
				}
				maxRequests := int64(concurrency)
				if tc.closed {
					maxRequests = concurrency * attempts
				}
				if first.Requests > maxRequests || first.Requests < 1 || first.Unrecorded != first.Requests {
					t.Errorf("%d requests, %d unrecorded: want at most %d, all unrecorded", first.Requests, first.Unrecorded, maxRequests)
				}
				if handshakes != nil {
					if n := handshakes(); n > concurrency || n < 1 {
						t.Errorf("the server saw %d TLS handshakes, want 1 to %d (the requests in flight)", n, concurrency)
					}
					if hits.Load() != 0 {
						t.Errorf("%d requests got through an unverified certificate", hits.Load())
					}
				}
				if got := readOutcomes(t, out); len(got) != 0 {
					t.Errorf("%d rows recorded; they must be left for --resume", len(got))
				}

				res, _ = run(good.URL, "--resume")
				if res.code != ExitOK {
					t.Fatalf("resume against a sound server: exit %d:\n%s", res.code, res.stderr)
				}
				got := readOutcomes(t, out)
				for i, tok := range tokens {
					if o := got[int64(i+2)]; o.Status != revoke.Revoked || o.Attempts != 1 {
						t.Errorf("line %d after resume: %+v", i+2, o)
					}
					if provider == ProviderConcur {
						if _, revoked := simSrv.TokenRevoked(tok); !revoked {
							t.Errorf("%s not revoked on the server", tok)
						}
					} else if rfc.requests(tok) != 1 {
						t.Errorf("%s sent %d times", tok, rfc.requests(tok))
					}
				}
			})
		}
	}
}
