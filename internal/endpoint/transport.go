package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// TrustHint says how to make the job trust a CA that the system does not:
// Go reads both variables when it first loads the system's CA certificates.
const TrustHint = "bulkrevoke trusts the system's CA certificates; to trust another CA " +
	"(a corporate proxy's, say), set SSL_CERT_FILE to a PEM file of CA certificates, " +
	"or SSL_CERT_DIR to a directory of them"

// CertificateError explains a TLS certificate that could not be verified
// (an unknown authority, a name that does not match, an expired
// certificate, no CA certificates at all), or returns nil when err is not
// about one. Such a failure repeats on every request, so no row can
// succeed: the run stops rather than retry each row.
//
// The explanation names the problem and what to do; it keeps err's text,
// which names the certificate's hosts but never the request's URL.
func CertificateError(err error) error {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		noRoots  x509.SystemRootsError
	)
	var problem string
	switch {
	case errors.As(err, &unknown):
		problem = "is signed by an unknown authority"
	case errors.As(err, &hostname):
		problem = "is not valid for the host in the URL: check the URL"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		problem = "has expired or is not valid yet: check this machine's clock, or have the certificate renewed"
	case errors.As(err, &invalid):
		problem = "is not valid"
	case errors.As(err, &noRoots):
		problem = "cannot be checked: no CA certificates could be loaded (install the ca-certificates package)"
	case errors.As(err, &verify):
		problem = "could not be verified"
	default:
		return nil
	}
	return &TLSError{Problem: problem, Err: err}
}

// TLSError is a server certificate that could not be verified.
type TLSError struct {
	// Problem says what is wrong with the certificate, and what to do.
	Problem string
	Err     error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("the server's TLS certificate %s (%v). %s", e.Problem, e.Err, TrustHint)
}

func (e *TLSError) Unwrap() error { return e.Err }

// Unreachable reports whether err says that no connection to the server
// could be made: the name did not resolve, the connection was refused or
// reset while being made, the host or network is unreachable, the
// connection attempt timed out. The request was then never sent. A failure after connecting (a
// reset, a timeout waiting for the reply) is not one: the server may have
// acted.
func Unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	// Not errors.As: through a proxy, net/http wraps the dial's OpError in
	// one of its own ("proxyconnect").
	for ; err != nil; err = errors.Unwrap(err) {
		if op, ok := err.(*net.OpError); ok && op.Op == "dial" {
			return true
		}
	}
	return false
}
