package rfc7009

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// TestUnverifiableCertificateIsFatal: no retry makes a certificate
// trusted, so the answer stops the run and says how to trust a CA.
func TestUnverifiableCertificateIsFatal(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA()
	wrongHost, expired := ca.WrongHost(t), ca.Expired(t)
	for name, cert := range map[string]*tls.Certificate{"unknown authority": nil, "wrong host": &wrongHost, "expired": &expired} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.NewTLSServer(t, cert, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("a request got through")
			}))
			u, _ := url.Parse(srv.URL + "/oauth2/revoke")
			ans := newClient(t, u, nil).Revoke(context.Background(), tokenRow("tok-1", ""))
			if !ans.Fatal || ans.Retry || ans.Unreachable || ans.Status != revoke.Failed || ans.Err == nil {
				t.Fatalf("answer %+v, want fatal", ans)
			}
			for _, s := range []string{"TLS certificate", "SSL_CERT_FILE"} {
				if !strings.Contains(ans.Err.Error(), s) {
					t.Errorf("error %q does not say %q", ans.Err, s)
				}
			}
			assertNoSecret(t, ans.Err)
		})
	}
}

// TestRefusedConnectionIsUnreachable: a refused connection is retried, and
// marked as never having reached the server.
func TestRefusedConnectionIsUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + ln.Addr().String() + "/oauth2/revoke")
	ln.Close()
	ans := newClient(t, u, nil).Revoke(context.Background(), tokenRow("tok-1", ""))
	if !ans.Unreachable || !ans.Retry || ans.Fatal || !strings.Contains(ans.Err.Error(), "refused") {
		t.Fatalf("answer %+v, want unreachable and retried", ans)
	}
	assertNoSecret(t, ans.Err)
}
