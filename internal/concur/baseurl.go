package concur

import (
	"net/url"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
)

// CheckBaseURL parses and validates an instance or endpoint URL with the rule
// every endpoint is held to (endpoint.ParseURL: https always, http on
// loopback only, no credentials, query or fragment), and drops a trailing
// slash so that the endpoint path can be joined to it.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := endpoint.ParseURL(raw)
	if err != nil {
		return nil, err // it says "check URL …" already
	}
	return trimSlash(u), nil
}

// checkURL validates u and returns a normalised copy.
func checkURL(u *url.URL) (*url.URL, error) {
	n, err := endpoint.CheckURL(u)
	if err != nil {
		return nil, err
	}
	return trimSlash(n), nil
}

func trimSlash(u *url.URL) *url.URL {
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u
}
