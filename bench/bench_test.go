package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestMain lets the test binary act as the spawner, as the harness binary
// does: spawn re-executes the running program.
func TestMain(m *testing.M) {
	if result := os.Getenv(spawnEnv); result != "" {
		os.Exit(spawn(result, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestPeakWindow(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name     string
		arrivals []time.Duration
		want     int
	}{
		{"none", nil, 0},
		{"one", ms(5), 1},
		{"evenly paced at 10/s over 3s", ms(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 2000), 10},
		{"window is half-open: an arrival exactly 1s later is not in it", ms(0, 1000), 1},
		{"a burst in the middle, not aligned to whole seconds", ms(0, 700, 1300, 1310, 1320, 1330, 1690, 2500), 6},
		{"the busiest window starts late", ms(0, 1500, 1600, 1700, 2400, 2499), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := peakWindow(tt.arrivals, time.Second); got != tt.want {
				t.Errorf("peakWindow = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTrafficRates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		tr          traffic
		wantRate    float64
		wantRefused float64
	}{
		{"empty", traffic{}, 0, 0},
		{"one request has no span", traffic{requests: 1}, 0, 0},
		{"101 requests over 1s is 100/s", traffic{requests: 101, span: time.Second, byStatus: map[int]int64{200: 101}}, 100, 0},
		{"a quarter refused", traffic{requests: 8, span: 2 * time.Second, byStatus: map[int]int64{200: 6, 429: 2}}, 3.5, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.tr.rate(); got != tt.wantRate {
				t.Errorf("rate = %v, want %v", got, tt.wantRate)
			}
			if got := tt.tr.refusedShare(); got != tt.wantRefused {
				t.Errorf("refusedShare = %v, want %v", got, tt.wantRefused)
			}
		})
	}
}

func TestQuotaUsed(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name        string
		tr          traffic
		want        float64
		wantWindows int
	}{
		{"one window touched: nothing to judge", traffic{span: 900 * time.Millisecond, granted: ms(0, 100, 200)}, 0, 0},
		// Quota 4 a second: windows [0,1s) and [1s,2s) are whole, the last
		// one ([2s,3s)) is where the rows ran out, and is left out.
		{"two whole windows, the last left out", traffic{span: 2500 * time.Millisecond, granted: ms(0, 10, 20, 30, 1000, 1500, 2000, 2400)}, 6.0 / 8, 2},
		{"a full quota in each", traffic{span: 2 * time.Second, granted: ms(0, 1, 2, 3, 1000, 1001, 1002, 1003, 2000)}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, windows := tt.tr.quotaUsed(4, time.Second)
			if got != tt.want || windows != tt.wantWindows {
				t.Errorf("quotaUsed = %v over %d windows, want %v over %d", got, windows, tt.want, tt.wantWindows)
			}
		})
	}
}

func TestWrkRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		want float64
	}{
		{"wrk 4.1 report", "Running 1s test @ http://127.0.0.1:1/x\n  2 threads and 64 connections\n  54512 requests in 1.00s, 6.12MB read\nRequests/sec:  54401.72\nTransfer/sec:      6.11MB\n", 54401.72},
		{"no figure", "unable to connect to 127.0.0.1:1 Connection refused\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := wrkRate([]byte(tt.out)); got != tt.want {
				t.Errorf("wrkRate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckRun(t *testing.T) {
	t.Parallel()
	fin := func(rows map[string]int64) finishedLine {
		f := finishedLine{found: true}
		f.RunByStatus = map[revoke.Status]int64{}
		for s, n := range rows {
			f.RunByStatus[revoke.Status(s)] = n
		}
		return f
	}
	tests := []struct {
		name    string
		res     jobResult
		rows    int
		wantErr string
	}{
		{"every row accounted for", jobResult{exit: 0, finished: fin(map[string]int64{"revoked": 90, "not_found": 10})}, 100, ""},
		{"some rows failed is still a measurement", jobResult{exit: 1, finished: fin(map[string]int64{"revoked": 99, "failed": 1})}, 100, ""},
		{"stopped at the budget", jobResult{exit: 3, stopped: true}, 100, ""},
		{"stopped without a budget", jobResult{exit: 3, finished: fin(map[string]int64{"revoked": 5})}, 100, "exited 3"},
		{"usage error", jobResult{exit: 2}, 100, "exited 2"},
		{"no finished line", jobResult{exit: 0}, 100, "no finished line"},
		{"rows missing", jobResult{exit: 0, finished: fin(map[string]int64{"revoked": 98})}, 100, "accounts for 98 rows, want 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkRun(tt.res, tt.rows, filepath.Join(t.TempDir(), "absent.log"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkRun = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkRun = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestJobEnvKeepsSettingsOut(t *testing.T) {
	t.Parallel()
	got := jobEnv([]string{"PATH=/bin", "BULKREVOKE_RATE=5", "CONCUR_ADMIN_TOKEN=real-one", "HOME=/root"}, "sim-admin")
	want := []string{"PATH=/bin", "HOME=/root", "CONCUR_ADMIN_TOKEN=sim-admin"}
	if !slices.Equal(got, want) {
		t.Errorf("jobEnv = %q, want %q", got, want)
	}
}

func TestReadFinished(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "job.log")
	log := `{"level":"info","input_rows":12,"message":"starting"}
{"level":"warn","line":3,"message":"row"}
{"level":"info","run_by_status":{"revoked":10,"failed":2},"requests":15,"retries":3,"throttled":1,"achieved_rate":123.5,"message":"finished"}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	fin, err := readFinished(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fin.found || fin.RunByStatus["revoked"] != 10 || fin.RunByStatus["failed"] != 2 || fin.Requests != 15 || fin.Retries != 3 || fin.Throttled != 1 || fin.AchievedRate != 123.5 {
		t.Errorf("readFinished = %+v", fin)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{20_000: "20k", 2_000_000: "2M", 2_001: "2001", 1_500_000: "1500k"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// ballast is heap the test process holds while it spawns, so that a spawn
// that leaked the parent's high-water mark into the child's would show it.
var ballast []byte

// TestSpawnReportsTheChildsOwnPeak checks the reason the spawner exists: a
// child's maxrss must not include the parent's high-water mark.
func TestSpawnReportsTheChildsOwnPeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("maxrss semantics are Linux's")
	}
	for _, tool := range []string{"sh", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ballast = make([]byte, 256<<20)
	for i := 0; i < len(ballast); i += 4096 { // one write a page makes it resident
		ballast[i] = 1
	}
	defer func() { ballast = nil }()
	h := &harness{opts: options{workDir: t.TempDir()}}
	ctx := context.Background()

	small, err := h.spawn(ctx, []string{"sh", "-c", "exit 3"}, os.Environ(), "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if small.exit != 3 {
		t.Errorf("exit = %d, want 3", small.exit)
	}
	if small.maxRSSKiB <= 0 || small.maxRSSKiB > 64<<10 {
		t.Errorf("sh's peak RSS = %d KiB with 256 MiB held by the parent, want a few MiB", small.maxRSSKiB)
	}

	// dd touches its whole 96 MiB block buffer.
	big, err := h.spawn(ctx, []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1", "status=none"}, os.Environ(), "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if big.exit != 0 || big.maxRSSKiB < 90<<10 || big.maxRSSKiB > 200<<10 {
		t.Errorf("dd bs=96M: exit %d, peak RSS %d KiB; want 0 and about 96 MiB", big.exit, big.maxRSSKiB)
	}
}

// TestSpawnBudgetInterrupts checks that a run past its budget gets one
// SIGINT (passed on by the spawner) and is reported as stopped.
func TestSpawnBudgetInterrupts(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh not installed")
	}
	h := &harness{opts: options{workDir: t.TempDir()}}
	// The trap exits 7 on the first SIGINT; a second one would not matter.
	res, err := h.spawn(context.Background(), []string{"sh", "-c", "trap 'exit 7' INT; while :; do sleep 0.05; done"},
		os.Environ(), "", nil, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !res.stopped || res.exit != 7 {
		t.Errorf("stopped = %v, exit = %d; want true and 7 (the trap's)", res.stopped, res.exit)
	}
}
