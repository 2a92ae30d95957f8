package integration_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/progress"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// endlessRows yields distinct token rows up to n.
type endlessRows struct{ line, n int64 }

func (r *endlessRows) Next() (input.Row, error) {
	if r.line++; r.line > r.n {
		return input.Row{}, io.EOF
	}
	return input.Row{Line: r.line, Kind: input.KindToken, Token: "tok-" + strconv.FormatInt(r.line, 10)}, nil
}

// TestStatsWhileLoggingThroughTheBar is a regression test: the pacer and
// the gate log while holding their locks, the log goes through the progress
// bar, and the bar reads Pool.Stats while drawing. Stats taking those locks
// froze the run for good.
func TestStatsWhileLoggingThroughTheBar(t *testing.T) {
	t.Parallel()
	var screenOut bytes.Buffer
	screen := progress.NewScreen(&screenOut)
	log := zerolog.New(zerolog.SyncWriter(screen)).Level(zerolog.DebugLevel)
	var n atomic.Int64
	throttling := &fakeRevoker{func(ctx context.Context, row input.Row) revoke.Answer {
		time.Sleep(time.Millisecond)
		if n.Add(1)%3 == 0 {
			return revoke.Answer{Status: revoke.Failed, Retry: true, Throttled: true, HTTPStatus: 429}
		}
		return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
	}}
	p := revoke.New(revoke.Config{Revoker: throttling, Rate: 2000, Concurrency: 8, MaxAttempts: 2,
		BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, Logger: log})
	slowStats := func() revoke.Stats { time.Sleep(20 * time.Millisecond); return p.Stats() }
	meter := progress.NewMeter(progress.Config{Total: 100000, Stats: slowStats})
	screen.ShowBar(meter, progress.BarOptions{Force: true})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, &endlessRows{n: 100000}, func(o revoke.Outcome) error { meter.Add(o); return nil })
	}()
	select {
	case <-done:
		screen.HideBar(false)
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop 28s after its context's deadline: deadlocked")
	}
}

// fakeRevoker answers with a function, so each test scripts the provider.
type fakeRevoker struct {
	revoke func(ctx context.Context, row input.Row) revoke.Answer
}

var _ revoke.Revoker = (*fakeRevoker)(nil)

func (f *fakeRevoker) Revoke(ctx context.Context, row input.Row) revoke.Answer {
	return f.revoke(ctx, row)
}
