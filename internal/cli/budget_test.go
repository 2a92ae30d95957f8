package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestMaxDurationStopsGentlyAndResumes runs against a slow server: 150 rows,
// two at a time, 40 ms each, cannot take less than 3 s, so a budget of
// 300 ms always runs out first.
func TestMaxDurationStopsGentlyAndResumes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{Live: true, Latency: 40 * time.Millisecond}, nil)
	dir := t.TempDir()
	var in strings.Builder
	in.WriteString("token\n")
	const rows = 150
	for i := range rows {
		fmt.Fprintf(&in, "0_budget%03d\n", i)
	}
	input := writeFile(t, dir, "in.csv", in.String())
	out := filepath.Join(dir, "out.csv")
	env := map[string]string{EnvAdminToken: testAdminToken}
	common := []string{"run", "--base-url", srv.url, "--rate", "0", "--concurrency", "2", "--log-format", "json", "--out", out}

	res := runMain(t, context.Background(), env, "", append(common, "--max-duration", "300ms", input)...)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
	}
	// JSON logs: the last word is an error-level line naming the cause.
	lines := jsonLines(t, res.stderr)
	last := lines[len(lines)-1]
	if last["level"] != "error" || !strings.Contains(fmt.Sprint(last["error"]), "time budget (--max-duration 300ms) spent") ||
		!strings.Contains(fmt.Sprint(last["message"]), "--resume") || last["exit_code"] != float64(ExitStopped) {
		t.Errorf("the final line does not say the budget ran out and how to go on: %v\n%s", last, res.stderr)
	}
	if !hasLogLine(res.stderr, "warn", "time budget (--max-duration 300ms) spent") {
		t.Errorf("no warning logged when the budget ran out:\n%s", res.stderr)
	}
	first := readOutcomes(t, out)
	if len(first) >= rows {
		t.Fatalf("all %d rows recorded: the budget did not stop the run", len(first))
	}
	// Requests in flight when the budget ran out finished and were
	// recorded: the server saw exactly one request per recorded row.
	if n := srv.hits.Load(); n != int64(len(first)) {
		t.Errorf("the server answered %d requests, the outcome file records %d rows", n, len(first))
	}
	for line, o := range first {
		if o.Status != revoke.Revoked {
			t.Errorf("line %d: %q, want revoked", line, o.Status)
		}
	}

	res = runMain(t, context.Background(), env, "", append(common, "--resume", input)...)
	if res.code != ExitOK {
		t.Fatalf("resume: exit %d:\n%s", res.code, res.stderr)
	}
	all := readOutcomes(t, out)
	if len(all) != rows {
		t.Errorf("after resuming, %d rows recorded, want %d", len(all), rows)
	}
	if n := srv.hits.Load(); n != rows {
		t.Errorf("the server got %d requests for %d rows: some row was sent twice or not at all", n, rows)
	}
}

func hasLogLine(stderr, level, message string) bool {
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var l struct{ Level, Message string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == level && strings.Contains(l.Message, message) {
			return true
		}
	}
	return false
}

func TestMaxDurationNotSpent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\n0_abc\n0_def\n")
	res := runMain(t, context.Background(), nil, "", "run", "--dry-run", "--max-duration", "1h", "--out", filepath.Join(dir, "out.csv"), in)
	if res.code != ExitOK {
		t.Errorf("a run within its budget: exit %d, want %d:\n%s", res.code, ExitOK, res.stderr)
	}
	if strings.Contains(res.stderr, "time budget") {
		t.Errorf("a run within its budget speaks of it:\n%s", res.stderr)
	}
}
