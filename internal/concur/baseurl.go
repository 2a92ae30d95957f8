package concur

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// CheckBaseURL parses and validates an instance or endpoint URL: https
// always; http only when the host is loopback (127.0.0.0/8, ::1, localhost),
// because the query string carries the token being revoked. A trailing slash
// is dropped. The URL must not carry credentials, a query or a fragment.
func CheckBaseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("check base URL: empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the input, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("check base URL: %w", err)
	}
	return checkURL(u)
}

// checkURL validates u and returns a normalised copy.
func checkURL(u *url.URL) (*url.URL, error) {
	switch {
	case u.Scheme == "" || u.Host == "":
		return nil, fmt.Errorf("check base URL %s: want an absolute URL such as https://www.concursolutions.com", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("check base URL %s: must not carry credentials", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("check base URL %s: must not carry a query or fragment", u.Redacted())
	}
	n := *u
	n.Scheme = strings.ToLower(u.Scheme)
	switch n.Scheme {
	case "https":
	case "http":
		if !isLoopback(n.Hostname()) {
			return nil, fmt.Errorf("check base URL %s: http is allowed on loopback only; use https", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("check base URL %s: scheme %q: want https", u.Redacted(), u.Scheme)
	}
	n.Path = strings.TrimRight(n.Path, "/")
	n.RawPath = strings.TrimRight(n.RawPath, "/")
	return &n, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
