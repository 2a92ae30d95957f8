package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// someTargets faults the first attempt at a third of the targets.
func someTargets(f sim.Fault) faultPlan { return oneIn(3, f) }

// oneIn faults the first attempt at one target in n. Throttling answers use
// a larger n: each row refused waits out its Retry-After, and a few show the
// job survives them.
func oneIn(n uint32, f sim.Fault) faultPlan {
	return func(key string, attempt int) sim.Fault {
		if attempt == 1 && hashOf(key)%n == 0 {
			return f
		}
		return sim.None
	}
}

// expected walks a plan for one target: the faults it meets before the
// first clean attempt, and the status it must then end with. A retry that
// follows a reset after revoking meets a revoked target: not_found.
func expected(plan faultPlan, key string) (faults int, status revoke.Status) {
	status = revoke.Revoked
	for a := 1; plan(key, a) != sim.None; a++ {
		faults++
		if plan(key, a) == sim.ResetAfter {
			status = revoke.NotFound
		}
	}
	return faults, status
}

// faultRows is the input of the fault tests: live tokens and users, repeats
// and one invalid row, so that "one outcome per row" covers every kind.
func faultRows(srv *sim.Server, prefix string) []inputRow {
	rows := liveRows(srv, prefix, 24, 6)
	return append(rows,
		rows[0], rows[3], // repeats: recorded duplicate, never sent
		invalidRow("tok with spaces,,"),
		rows[7],
	)
}

// TestSurvivesFaults runs the job against a simulator that answers some
// requests with each fault the job must survive. Every row must end with
// exactly one outcome, every target revoked, each faulted row retried
// exactly as often as it was faulted, and the attempts in the outcome file
// must add up to the requests the server received.
func TestSurvivesFaults(t *testing.T) {
	t.Parallel()
	mixed := []sim.Fault{sim.Status503, sim.Status429Zero, sim.ResetBefore, sim.ResetAfter, sim.Hang, sim.Status429NoHeader, sim.Status400Limit}
	cases := []struct {
		name string
		plan faultPlan
		args []string
	}{
		{"503 maintenance", someTargets(sim.Status503), nil},
		{"429 with Retry-After 1", oneIn(8, sim.Status429), nil},
		{"429 with Retry-After 0", oneIn(8, sim.Status429Zero), nil},
		{"429 without Retry-After", oneIn(8, sim.Status429NoHeader), nil},
		{"400 request limit exceeded", oneIn(8, sim.Status400Limit), nil},
		{"connection reset before acting", someTargets(sim.ResetBefore), nil},
		{"connection reset after revoking", someTargets(sim.ResetAfter), nil},
		{"reply hangs past --timeout", someTargets(sim.Hang), []string{"--timeout", "1s"}},
		{"two faults in a row, of every kind", func(key string, attempt int) sim.Fault {
			h := hashOf(key)
			if attempt > 2 || h%2 == 0 {
				return sim.None
			}
			return mixed[(int(h/2)+attempt)%len(mixed)]
		}, []string{"--timeout", "1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, seen := countingServer(t, sim.Config{Fault: planned(tc.plan)}, nil)
			in := writeRows(t, t.TempDir(), "in.csv", faultRows(srv.Server, "f"))
			out := outPath(t, "out.csv")

			res, sum := runJob(t, srv, testAdminToken, append([]string{"--rate", "0", "--concurrency", "8", "--out", out, in.path}, tc.args...)...)
			if res.code != ExitInvalid { // the invalid row; every other row succeeds
				t.Fatalf("exit %d, want %d:\n%s", res.code, ExitInvalid, res.stderr)
			}
			if sum.Unrecorded != 0 {
				t.Errorf("a completed run left %d requests unrecorded", sum.Unrecorded)
			}
			got := checkExact(t, srv, in, out, 0)

			var planned int64
			for line, r := range in.rows {
				if r.key == "" || in.first[line] != line {
					continue
				}
				faults, status := expected(tc.plan, r.key)
				planned += int64(faults)
				o := got[line]
				if o.Attempts != faults+1 || o.Status != status {
					t.Errorf("line %d met %d faults: recorded %s after %d attempts, want %s after %d (%s)",
						line, faults, o.Status, o.Attempts, status, faults+1, o.Error)
				}
				if n := seen.requestsFor(r.key); n != int64(o.Attempts) {
					t.Errorf("line %d: server received %d requests for its target, outcome says %d attempts", line, n, o.Attempts)
				}
			}
			if planned == 0 {
				t.Fatal("the plan faulted no request: the case tests nothing")
			}
			if st := srv.Stats(); st.Faults != planned {
				t.Errorf("server injected %d faults, plan has %d", st.Faults, planned)
			}
		})
	}
}

// TestCredentialsRejectedMidRun revokes the administrator token in the
// middle of a run. The job must stop (exit 3) with every row done so far
// recorded and the refused requests counted as unrecorded, then finish with
// --resume and the new token without sending a recorded row again.
func TestCredentialsRejectedMidRun(t *testing.T) {
	t.Parallel()
	const newToken = "ADMIN-rotated-token-9b1c"
	cases := []struct {
		name   string
		status int // what the old token gets once rotated
	}{
		{"403 token expired or revoked", http.StatusForbidden},
		{"401 token not accepted", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var srv *server
			srv, seen := countingServer(t, sim.Config{}, func(n int64, w http.ResponseWriter, r *http.Request) bool {
				if n == 20 {
					srv.SetAdminToken(newToken) // the sim now answers the old one 403
				}
				if tc.status == http.StatusUnauthorized && n >= 20 && r.Header.Get("Authorization") == "OAuth "+testAdminToken {
					w.Header().Set("Content-Type", "application/xml")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprintf(w, "<Error><Message>%s</Message></Error>", sim.MsgNoAuth)
					return true
				}
				return false
			})
			in := writeRows(t, t.TempDir(), "in.csv", liveRows(srv.Server, "c", 50, 10))
			out := outPath(t, "out.csv")

			res, first := runJob(t, srv, testAdminToken, "--rate", "0", "--concurrency", "4", "--out", out, in.path)
			if res.code != ExitStopped {
				t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
			}
			if want := fmt.Sprint(tc.status); !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "--resume") {
				t.Errorf("stderr does not name %s and --resume:\n%s", want, res.stderr)
			}
			if first.Unrecorded < 1 {
				t.Errorf("the refused request is not counted as unrecorded: %+v", first)
			}
			recorded := readOutcomes(t, out)
			if len(recorded) < 15 || len(recorded) >= len(in.rows) {
				t.Fatalf("recorded %d of %d rows before the stop", len(recorded), len(in.rows))
			}
			for line, o := range recorded {
				if o.Status != revoke.Revoked {
					t.Errorf("line %d recorded %s before the stop (%s)", line, o.Status, o.Error)
				}
			}
			// The refused request, the 3 others in flight, and for a 403 the
			// probe that shows the refusal is the administrator's.
			if sent := srv.hits.Load(); sent > 20+3+first.Probes {
				t.Errorf("%d requests: the job went on after the refusal", sent)
			}
			wantProbes := int64(0)
			if tc.status == http.StatusForbidden {
				wantProbes = 1
			}
			if first.Probes != wantProbes {
				t.Errorf("%d probes, want %d", first.Probes, wantProbes)
			}
			before := seen.snapshot()

			res, second := runJob(t, srv, newToken, "--resume", "--rate", "0", "--concurrency", "4", "--out", out, in.path)
			if res.code != ExitOK {
				t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
			}
			if second.Skipped != int64(len(recorded)) {
				t.Errorf("resume skipped %d rows, %d were recorded", second.Skipped, len(recorded))
			}
			// A 403 is settled by a probe, which is for no row.
			checkExact(t, srv, in, out, first.Unrecorded+first.Probes+second.Unrecorded)
			after := seen.snapshot()
			for line := range recorded {
				if k := in.rows[line].key; after[k] != before[k] {
					t.Errorf("line %d was recorded before the stop, yet resume sent it again", line)
				}
			}
		})
	}
}

// TestStopWithRequestsInFlight cancels the run (what the first SIGINT or
// SIGTERM does) while requests are at the server. The job must exit 3 with
// every final answer the server gave recorded; requests whose rows were
// waiting to retry are counted as unrecorded; --resume then finishes.
func TestStopWithRequestsInFlight(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		plan faultPlan
		// minUnrecorded is what the stop must leave unrecorded at least:
		// the request answered 503 as the stop came has a row waiting.
		minUnrecorded int64
	}{
		{"no faults", func(string, int) sim.Fault { return sim.None }, 0},
		{"rows waiting to retry", func(_ string, attempt int) sim.Fault {
			if attempt == 1 {
				return sim.Status503
			}
			return sim.None
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			srv, seen := countingServer(t, sim.Config{Latency: 30 * time.Millisecond, Fault: planned(tc.plan)},
				func(n int64, w http.ResponseWriter, r *http.Request) bool {
					if n == 12 {
						stop() // this request, and those beside it, are in flight
					}
					return false
				})
			in := writeRows(t, t.TempDir(), "in.csv", liveRows(srv.Server, "s", 60, 0))
			out := outPath(t, "out.csv")

			res, first := runJobCtx(t, ctx, srv, testAdminToken, "--rate", "0", "--concurrency", "8", "--out", out, in.path)
			if res.code != ExitStopped || !strings.Contains(res.stderr, "--resume") {
				t.Fatalf("exit %d, want %d and a hint to resume:\n%s", res.code, ExitStopped, res.stderr)
			}
			if first.Unrecorded < tc.minUnrecorded {
				t.Errorf("%d unrecorded requests, want at least %d", first.Unrecorded, tc.minUnrecorded)
			}
			recorded := readOutcomes(t, out)
			byKey := map[string]revoke.Outcome{}
			var attempts int64
			for line, o := range recorded {
				byKey[in.rows[line].key] = o
				attempts += int64(o.Attempts)
				// A stop must not turn a request in flight into a failure.
				if o.Status != revoke.Revoked {
					t.Errorf("line %d recorded %s at the stop (%s)", line, o.Status, o.Error)
				}
			}
			finals := 0
			for _, a := range seen.answers() {
				if a.status != http.StatusOK {
					continue // a 503: its row waits to retry, unrecorded
				}
				finals++
				if o, ok := byKey[a.key]; !ok || o.Status != revoke.Revoked {
					t.Errorf("the server revoked %s, but the outcome file has %+v", a.key, o)
				}
			}
			if finals == 0 {
				t.Error("no request completed: the stop came too early to test anything")
			}
			if sent := srv.hits.Load(); attempts+first.Unrecorded != sent {
				t.Errorf("server received %d requests; outcome file counts %d attempts, the run %d unrecorded", sent, attempts, first.Unrecorded)
			}
			if len(recorded) >= len(in.rows) {
				t.Fatalf("all %d rows recorded: the stop stopped nothing", len(recorded))
			}
			before := seen.snapshot()

			res, second := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--concurrency", "8", "--out", out, in.path)
			if res.code != ExitOK {
				t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
			}
			checkExact(t, srv, in, out, first.Unrecorded+second.Unrecorded)
			after := seen.snapshot()
			for line := range recorded {
				if k := in.rows[line].key; after[k] != before[k] {
					t.Errorf("line %d was recorded before the stop, yet resume sent it again", line)
				}
			}
		})
	}
}
