package endpoint_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// get sends one request through a client like the job's, trusting roots
// (nil: the system's), and returns its error with the URL dropped.
func get(t *testing.T, url string, roots *x509.CertPool) error {
	t.Helper()
	hc := endpoint.NewHTTPClient(1)
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return endpoint.WithoutURL(err)
}

func ok(w http.ResponseWriter, _ *http.Request) {}

func TestCertificateError(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA()
	loopback, wrongHost, expired := ca.Loopback(t), ca.WrongHost(t), ca.Expired(t)
	cases := []struct {
		name  string
		cert  *tls.Certificate // nil: httptest's own
		roots *x509.CertPool
		want  string // "" : the request succeeds
	}{
		{"trusted CA, right host, valid", &loopback, ca.Pool(), ""},
		{"unknown authority (httptest's own certificate)", nil, nil, "is signed by an unknown authority"},
		{"unknown authority (a CA not trusted)", &loopback, x509.NewCertPool(), "is signed by an unknown authority"},
		{"a certificate for another host", &wrongHost, ca.Pool(), "is not valid for the host in the URL"},
		{"an expired certificate", &expired, ca.Pool(), "has expired or is not valid yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := testutil.NewTLSServer(t, tc.cert, http.HandlerFunc(ok))
			err := get(t, srv.URL, tc.roots)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("request failed: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("request succeeded")
			}
			certErr := endpoint.CertificateError(err)
			if certErr == nil {
				t.Fatalf("CertificateError(%v) = nil", err)
			}
			for _, s := range []string{tc.want, "SSL_CERT_FILE", "SSL_CERT_DIR", err.Error()} {
				if !strings.Contains(certErr.Error(), s) {
					t.Errorf("%q does not say %q", certErr, s)
				}
			}
			var te *endpoint.TLSError
			if !errors.As(certErr, &te) || !errors.Is(certErr, err) {
				t.Errorf("%T does not wrap the cause", certErr)
			}
			if endpoint.Unreachable(err) {
				t.Errorf("a certificate error counted as unreachable")
			}
		})
	}
}

func TestCertificateErrorIgnoresOthers(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		errors.New("connection reset by peer"),
		context.DeadlineExceeded,
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")},
		tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"},
	} {
		if got := endpoint.CertificateError(err); got != nil {
			t.Errorf("CertificateError(%v) = %v, want nil", err, got)
		}
	}
	if got := endpoint.CertificateError(fmt.Errorf("wrapped: %w", x509.SystemRootsError{})); got == nil || !strings.Contains(got.Error(), "no CA certificates") {
		t.Errorf("no system roots: %v", got)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was just closed refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	refused := get(t, "http://"+closed+"/revoke", nil)
	if refused == nil || !endpoint.Unreachable(refused) {
		t.Errorf("connection refused: Unreachable(%v) = false", refused)
	}

	// A server that reads the request, then resets without answering, was
	// reached: it may have acted.
	reset := newResetServer(t)
	if err := get(t, "http://"+reset+"/revoke", nil); err == nil || endpoint.Unreachable(err) {
		t.Errorf("reset after connecting: Unreachable(%v) = true, want false", err)
	}

	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.DNSError{Err: "no such host", Name: "revoke.invalid", IsNotFound: true}, true},
		{&net.DNSError{Err: "server misbehaving", Name: "revoke.example", IsTemporary: true}, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: no route to host")}, true},
		// Through a proxy, net/http wraps the dial in its own OpError.
		{fmt.Errorf("post: %w", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}), true},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false},
		{context.DeadlineExceeded, false},
	} {
		if got := endpoint.Unreachable(tc.err); got != tc.want {
			t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// newResetServer reads each request, then resets its connection without
// answering.
func newResetServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
