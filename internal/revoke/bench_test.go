package revoke_test

import (
	"context"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// noopRevoker answers at once, so a benchmark sees only the pool's own cost
// per row: reading, de-duplicating, pacing, sizing, recording.
type noopRevoker struct{}

func (noopRevoker) Revoke(context.Context, input.Row) revoke.Answer {
	return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
}

// BenchmarkPoolHotPath measures the pool's overhead per row with a provider
// that costs nothing:
//
//	go test -run '^$' -bench PoolHotPath -benchmem ./internal/revoke
func BenchmarkPoolHotPath(b *testing.B) {
	cases := []struct {
		name string
		cfg  revoke.Config
	}{
		{"unpaced/16", revoke.Config{Concurrency: 16}},
		{"unpaced/self-sizing", revoke.Config{}},
		{"paced/self-sizing", revoke.Config{Rate: 1e9, Burst: 1000}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			src := uniqueRows(b.N)
			cfg := tc.cfg
			cfg.Revoker = noopRevoker{}
			p := revoke.New(cfg)
			var recorded int
			b.ReportAllocs()
			b.ResetTimer()
			err := p.Run(context.Background(), src, func(revoke.Outcome) error {
				recorded++
				return nil
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if recorded != b.N {
				b.Fatalf("recorded %d of %d rows", recorded, b.N)
			}
		})
	}
}
