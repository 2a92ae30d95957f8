package revoketest

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is a loopback endpoint that counts requests and connections and
// keeps what each request carried.
type server struct {
	url   string
	hits  atomic.Int64
	conns atomic.Int64

	mu       sync.Mutex
	requests []seen
}

// seen is what one request carried.
type seen struct {
	// values are its query and form values, decoded, and its credentials:
	// see carried.
	values []string
	// credential is the Authorization header after its scheme, "" if none.
	credential string
}

// serve starts a server that answers with h. h may read r.Body again.
func serve(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, carried(r, body))
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// carried lists every value a request carried, decoded: query and form
// values, the Authorization header's credentials, and for Basic the client
// ID and secret inside them. A secret the server saw is one of them.
func carried(r *http.Request, body []byte) seen {
	var vals []string
	add := func(v url.Values) {
		for _, vs := range v {
			vals = append(vals, vs...)
		}
	}
	add(r.URL.Query())
	if form, err := url.ParseQuery(string(body)); err == nil {
		add(form)
	}
	var cred string
	if auth := r.Header.Get("Authorization"); auth != "" {
		var scheme string
		scheme, cred, _ = strings.Cut(auth, " ")
		vals = append(vals, cred)
		if strings.EqualFold(scheme, "Basic") {
			if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
				id, secret, _ := strings.Cut(string(raw), ":")
				for _, part := range []string{id, secret} {
					if p, err := url.QueryUnescape(part); err == nil {
						vals = append(vals, p)
					}
					vals = append(vals, part)
				}
			}
		}
	}
	return seen{values: vals, credential: cred}
}

// credentials returns every Authorization credential the server saw: a
// server may echo them, so they are secrets too.
func (s *server) credentials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var creds []string
	for _, req := range s.requests {
		if req.credential != "" {
			creds = append(creds, req.credential)
		}
	}
	return creds
}

// sawValue reports whether some request carried v as one of its values.
func (s *server) sawValue(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, req := range s.requests {
		for _, got := range req.values {
			if got == v {
				return true
			}
		}
	}
	return false
}

// endpoint returns the Endpoint for s with secret and the suite's timeout.
func (s *server) endpoint(secret string) Endpoint {
	return Endpoint{URL: s.url, Secret: secret, Timeout: defaultTimeout}
}

// defaultTimeout bounds requests in the cases that do not test timeouts:
// long enough that a slow shared machine never hits it.
const defaultTimeout = 30 * time.Second
