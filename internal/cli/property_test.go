package cli

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// everyFault is what the property test draws faults from. Throttling
// answers slow the whole run down (the pool's pacer backs off), so they are
// drawn rarely here; TestSurvivesFaults has a case for each.
var everyFault = []sim.Fault{
	sim.Status503, sim.Status503, sim.Status503, sim.ResetBefore, sim.ResetBefore, sim.ResetBefore,
	sim.ResetAfter, sim.ResetAfter, sim.ResetAfter, sim.Hang, sim.Hang, sim.Status429Zero,
}

// randomPlan faults each attempt at a target with probability p. The draw
// depends only on (seed, target, attempt), so the test can replay the plan
// to know what the server did, whatever order the workers took.
func randomPlan(seed uint64, p float64) faultPlan {
	return func(key string, attempt int) sim.Fault {
		r := rand.New(rand.NewPCG(seed, uint64(hashOf(key))<<8|uint64(attempt)))
		if r.Float64() >= p {
			return sim.None
		}
		return everyFault[r.IntN(len(everyFault))]
	}
}

// modelRow is what the job must record for a row sent to the server, found
// by replaying the plan against the target's state: a clean attempt revokes
// a live target (revoked) or meets a dead one (not_found); a reset after
// revoking kills the target but leaves the row to retry; running out of
// attempts fails the row, whatever the server did.
func modelRow(plan faultPlan, key string, live bool, maxAttempts int) (status revoke.Status, attempts int, liveAfter bool) {
	for a := 1; a <= maxAttempts; a++ {
		switch plan(key, a) {
		case sim.None:
			if live {
				return revoke.Revoked, a, false
			}
			return revoke.NotFound, a, false
		case sim.ResetAfter:
			live = false
		}
	}
	return revoke.Failed, maxAttempts, live
}

// genRow is one generated input row and what the server knows of it.
type genRow struct {
	inputRow
	live bool // its target has something to revoke
}

// randomInput makes rows of every kind: live and unknown tokens, live,
// empty and unknown user pairs, repeats of earlier rows, invalid rows.
func randomInput(r *rand.Rand, srv *sim.Server, n int) []genRow {
	invalids := []string{"tok with space,,", ",only-user@example.com,", "tok-both-2,,ck-2", ",,ck-only", "tok-both,u@example.com,ck-1", "tok\x01ctl,,"}
	var rows []genRow
	for i := range n {
		switch k := r.IntN(100); {
		case k < 30:
			tok := fmt.Sprintf("tok-prop-%04d", i)
			srv.AddToken(tok)
			rows = append(rows, genRow{tokenRow(tok), true})
		case k < 40:
			rows = append(rows, genRow{tokenRow(fmt.Sprintf("tok-unknown-%04d", i)), false})
		case k < 55:
			user := fmt.Sprintf("prop%d@example.com", i)
			srv.AddUserTokens(user, "ck-prop", 1+r.IntN(2))
			rows = append(rows, genRow{userRow(user, "ck-prop"), true})
		case k < 60:
			user := fmt.Sprintf("empty%d@example.com", i)
			srv.AddUserTokens(user, "ck-prop", 0)
			rows = append(rows, genRow{userRow(user, "ck-prop"), false})
		case k < 65:
			rows = append(rows, genRow{userRow(fmt.Sprintf("nobody%d@example.com", i), "ck-prop"), false})
		case k < 85 && len(rows) > 0:
			prev := rows[r.IntN(len(rows))]
			rows = append(rows, prev)
		default:
			rows = append(rows, genRow{invalidRow(invalids[r.IntN(len(invalids))]), false})
		}
	}
	return rows
}

// TestPropertyOutcomesAgreeWithServer runs the job on random inputs against
// random fault schedules. For every seed: one outcome per row; each sent row
// ends exactly as the replayed plan says (status and attempts), so revoked
// and not_found always mean the target is dead on the server and failed
// means attempts ran out; the server's final state matches the plan;
// repeats and invalid rows are never sent; every request is accounted for.
func TestPropertyOutcomesAgreeWithServer(t *testing.T) {
	t.Parallel()
	const maxAttempts = 3
	for seed := range uint64(10) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0x5eed))
			plan := randomPlan(seed, 0.15+r.Float64()*0.5)
			srv, seen := countingServer(t, sim.Config{Fault: planned(plan)}, nil)
			gen := randomInput(r, srv.Server, 10+r.IntN(50))
			rows := make([]inputRow, len(gen))
			liveAt := map[string]bool{}
			for i, g := range gen {
				rows[i] = g.inputRow
				if g.key != "" {
					liveAt[g.key] = g.live
				}
			}
			in := writeRows(t, t.TempDir(), "in.csv", rows)
			out := outPath(t, []string{"out.csv", "out.jsonl"}[r.IntN(2)])
			concurrency := fmt.Sprint(2 + r.IntN(11))

			res, sum := runJob(t, srv, testAdminToken, "--rate", "0", "--concurrency", concurrency,
				"--max-attempts", fmt.Sprint(maxAttempts), "--timeout", "1s", "--out", out, in.path)
			got := readOutcomes(t, out)

			var attempts int64
			failed, invalid := false, false
			for line, row := range in.rows {
				o, ok := got[line]
				if !ok {
					t.Errorf("line %d has no outcome", line)
					continue
				}
				attempts += int64(o.Attempts)
				var want revoke.Status
				wantAttempts := 0
				switch {
				case row.key == "":
					want = revoke.Invalid
				case in.first[line] != line:
					want = revoke.Duplicate
				default:
					want, wantAttempts, _ = modelRow(plan, row.key, liveAt[row.key], maxAttempts)
				}
				failed = failed || want == revoke.Failed
				invalid = invalid || want == revoke.Invalid
				if o.Status != want || o.Attempts != wantAttempts {
					t.Errorf("line %d (%s): %s after %d attempts, want %s after %d (%s)", line, row.csv, o.Status, o.Attempts, want, wantAttempts, o.Error)
				}
			}
			if len(got) != len(in.rows) {
				t.Errorf("%d outcomes for %d rows", len(got), len(in.rows))
			}
			for line, row := range in.rows {
				if row.key == "" || in.first[line] != line {
					continue
				}
				_, n, liveAfter := modelRow(plan, row.key, liveAt[row.key], maxAttempts)
				if sent := seen.requestsFor(row.key); sent != int64(n) {
					t.Errorf("line %d: server received %d requests for its target, want %d (repeats are never sent)", line, sent, n)
				}
				if live := liveOnServer(srv.Server, row.key); live != liveAfter {
					t.Errorf("line %d: target live on the server: %v, want %v", line, live, liveAfter)
				}
			}
			if sent := srv.hits.Load(); attempts != sent || sum.Unrecorded != 0 {
				t.Errorf("server received %d requests; outcome file counts %d attempts, %d unrecorded", sent, attempts, sum.Unrecorded)
			}
			t.Logf("%d rows, %d requests, %d faults injected: %v", len(in.rows), srv.hits.Load(), srv.Stats().Faults, sum.RunByStatus)
			wantCode := ExitOK
			switch {
			case failed:
				wantCode = ExitRows
			case invalid:
				wantCode = ExitInvalid
			}
			if res.code != wantCode {
				t.Errorf("exit %d, want %d", res.code, wantCode)
			}
		})
	}
}

// liveOnServer reports whether key's target still has something to
// revoke: a known token not yet revoked, a known pair with a live token.
func liveOnServer(s *sim.Server, key string) bool {
	kind, rest, _ := strings.Cut(key, ":")
	if kind == "token" {
		known, revoked := s.TokenRevoked(rest)
		return known && !revoked
	}
	user, ck, _ := strings.Cut(rest, "/")
	known, revoked := s.UserRevoked(user, ck)
	return known && !revoked
}
