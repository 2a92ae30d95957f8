package testutil

// TLS certificates for tests: a CA of their own, and server certificates it
// signs for any host and validity, so that tests can show an unknown
// authority, a wrong host name and an expired certificate on loopback.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority made for one test run.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// NewCA makes a CA valid from an hour ago for a day. It panics if it
// cannot, so that a package's tests may make one CA for all of them.
func NewCA() *CA {
	t := panicker{}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "bulkrevoke test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, der: der}
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// PEM returns the CA certificate in PEM, as SSL_CERT_FILE wants it.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
}

// Cert makes a server certificate signed by the CA for hosts (names or IP
// addresses), valid between notBefore and notAfter.
func (ca *CA) Cert(t testing.TB, hosts []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Loopback is a certificate for 127.0.0.1, valid from an hour ago for a day.
func (ca *CA) Loopback(t testing.TB) tls.Certificate {
	return ca.Cert(t, []string{"127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// WrongHost is a valid certificate for a name that is not the server's.
func (ca *CA) WrongHost(t testing.TB) tls.Certificate {
	return ca.Cert(t, []string{"revoke.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// Expired is a certificate for 127.0.0.1 that expired yesterday.
func (ca *CA) Expired(t testing.TB) tls.Certificate {
	return ca.Cert(t, []string{"127.0.0.1"}, time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour))
}

// TLSServer is an HTTPS server on loopback that counts TLS handshakes begun
// (ClientHellos), so that a test can count the requests a client tried to
// send when none completes a handshake.
type TLSServer struct {
	*httptest.Server
	hellos atomic.Int64
}

// NewTLSServer serves h over TLS with cert; a nil cert serves httptest's own,
// which no client trusts by default (an unknown authority).
func NewTLSServer(t testing.TB, cert *tls.Certificate, h http.Handler) *TLSServer {
	t.Helper()
	s := &TLSServer{}
	ts := httptest.NewUnstartedServer(h)
	// Failed handshakes are the point: keep the server's log quiet.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.hellos.Add(1)
			return nil, nil
		},
	}
	if cert != nil {
		ts.TLS.Certificates = []tls.Certificate{*cert}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	s.Server = ts
	return s
}

// Handshakes returns the number of TLS handshakes clients began.
func (s *TLSServer) Handshakes() int64 { return s.hellos.Load() }

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// panicker is the testing.TB that NewCA fails through.
type panicker struct{ testing.TB }

func (panicker) Helper()           {}
func (panicker) Fatal(args ...any) { panic(fmt.Sprint(append([]any{"testutil: "}, args...)...)) }
