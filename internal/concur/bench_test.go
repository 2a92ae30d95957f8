package concur

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/endpoint"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// BenchmarkClassify measures the classification of one reply, by the shapes
// a run meets most (an empty 200 on every revocation) and the costlier ones
// (parsed Error bodies, a throttle with Retry-After, a proxy's HTML page):
//
//	go test -run '^$' -bench Classify -benchmem ./internal/concur
func BenchmarkClassify(b *testing.B) {
	secrets := []string{adminToken, rowToken}
	withID := http.Header{CorrelationHeader: {"3f2a9c1e-55d2-4b7a-9e0f-2d5e6b7c8a91"}}
	throttled := http.Header{CorrelationHeader: {"3f2a9c1e-55d2-4b7a-9e0f-2d5e6b7c8a91"}, "Retry-After": {"1"}}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   revoke.Status
		retry  bool
	}{
		{"revoked/empty 200", http.StatusOK, withID, "", revoke.Revoked, false},
		{"not found/200 XML Error", http.StatusOK, withID,
			`<Error><Message>Invalid token.</Message><Server-Time>2026-11-26T10:00:00</Server-Time><Id>3f2a9c1e</Id></Error>`,
			revoke.NotFound, false},
		{"not found/400 JSON Error", http.StatusBadRequest, withID,
			`{"Error":{"Message":"Invalid token.","Server-Time":"2026-11-26T10:00:00","Id":"3f2a9c1e"}}`,
			revoke.NotFound, false},
		{"throttled/429 Retry-After", http.StatusTooManyRequests, throttled,
			`<Error><Message>Too many requests. Slow down.</Message></Error>`,
			revoke.Failed, true},
		{"failed/200 HTML page", http.StatusOK, http.Header{},
			`<!DOCTYPE html><html><head><title>Sign in</title></head><body>portal</body></html>`,
			revoke.Failed, false},
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(tc.body)
			if ans := classify(tc.status, tc.header, body, input.KindToken, now, secrets); ans.Status != tc.want || ans.Retry != tc.retry {
				b.Fatalf("classify = %s retry=%v (%v), want %s retry=%v", ans.Status, ans.Retry, ans.Err, tc.want, tc.retry)
			}
			b.ReportAllocs()
			for b.Loop() {
				classify(tc.status, tc.header, body, input.KindToken, now, secrets)
			}
		})
	}
}

// BenchmarkRevoke measures one revocation request end to end on loopback,
// 64 in flight, against a simulator that answers at once with an empty 200:
// the client's share of the hot path (building the request, net/http,
// reading and classifying the reply). The simulator runs in the same
// process, so allocations and time include its side; compare runs, not
// absolute figures.
//
//	go test -run '^$' -bench Revoke -benchmem -cpuprofile cpu.out ./internal/concur
func BenchmarkRevoke(b *testing.B) {
	const inFlight = 64
	srv, err := sim.Start(sim.Config{AdminToken: adminToken, Live: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	u, err := CheckBaseURL(srv.URL().String())
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{BaseURL: u, AdminToken: adminToken, Timeout: 10 * time.Second, HTTPClient: endpoint.NewHTTPClient(inFlight)})
	if err != nil {
		b.Fatal(err)
	}
	var next, revoked atomic.Int64
	b.SetParallelism((inFlight + 1) / 2) // GOMAXPROCS × this goroutines
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			row := input.Row{Line: n, Kind: input.KindToken, Token: fmt.Sprintf("0_bench%033d", n)}
			if ans := c.Revoke(context.Background(), row); ans.Status == revoke.Revoked {
				revoked.Add(1)
			}
		}
	})
	if got := revoked.Load(); got != next.Load() {
		b.Fatalf("%d of %d requests revoked", got, next.Load())
	}
}
