package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

func TestConcurrencyGivenOrSelfSized(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := writeFile(t, dir, "job.yaml", "concurrency: 8\n")
	zeroJob := writeFile(t, dir, "zero.yaml", "concurrency: 0\n")
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int    // 0: the pool sizes itself
		wantErr string // non-empty: a usage error naming this
	}{
		{"left out: self-sizing", nil, nil, 0, ""},
		{"flag", nil, []string{"--concurrency", "8"}, 8, ""},
		{"environment", map[string]string{"BULKREVOKE_CONCURRENCY": "8"}, nil, 8, ""},
		{"job file", nil, []string{"--job", job}, 8, ""},
		{"flag over job file", nil, []string{"--job", job, "--concurrency", "3"}, 3, ""},
		{"zero on the command line is refused", nil, []string{"--concurrency", "0"}, 0, "--concurrency 0"},
		{"zero in a job file is refused", nil, []string{"--job", zeroJob}, 0, "--concurrency 0"},
		{"too many", nil, []string{"--concurrency", "2000"}, 0, "want 1 to 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{EnvAdminToken: testAdminToken}
			for k, v := range tc.env {
				env[k] = v
			}
			args := append(append([]string{}, tc.args...), "--out", filepath.Join(dir, "o.csv"), filepath.Join(dir, "in.csv"))
			cfg, err := parseRun(args, func(k string) string { return env[k] }, &bytes.Buffer{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Concurrency != tc.want {
				t.Errorf("concurrency %d, want %d", cfg.Concurrency, tc.want)
			}
		})
	}
}

func TestRunSlowsToTheServersLimit(t *testing.T) {
	t.Parallel()
	const rows, limit, ceiling = 300, 100, 400
	srv := newServer(t, sim.Config{Live: true, RateLimit: limit}, nil)
	dir := t.TempDir()
	var in strings.Builder
	in.WriteString("token\n")
	for i := range rows {
		fmt.Fprintf(&in, "limited-%04d\n", i)
	}
	input := writeFile(t, dir, "in.csv", in.String())
	out := filepath.Join(dir, "out.csv")
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--rate", fmt.Sprint(ceiling), "--log-format", "json", "--log-level", "debug", "--out", out, input)
	if res.code != ExitOK {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitOK, res.stderr)
	}
	for line, o := range readOutcomes(t, out) {
		if o.Status != revoke.Revoked {
			t.Errorf("line %d: %s (%s)", line, o.Status, o.Error)
		}
	}
	refused := srv.Stats().ByStatus[http.StatusTooManyRequests]

	var lowered int
	var finished struct {
		Throttled    int64    `json:"throttled"`
		FinalRate    *float64 `json:"final_rate"`
		SettledRate  *float64 `json:"settled_rate"`
		PeakInFlight int      `json:"peak_in_flight"`
	}
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	for sc.Scan() {
		var l struct {
			Message string  `json:"message"`
			Rate    float64 `json:"rate"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(l.Message, "rate lowered"):
			lowered++
			fallthrough
		case strings.HasPrefix(l.Message, "rate raised"):
			if l.Rate <= 0 || l.Rate > ceiling {
				t.Errorf("logged a rate of %v, outside (0, %d]", l.Rate, ceiling)
			}
		case l.Message == "finished":
			if err := json.Unmarshal(sc.Bytes(), &finished); err != nil {
				t.Fatal(err)
			}
		}
	}
	if refused == 0 || lowered == 0 {
		t.Fatalf("the server refused %d requests and the rate was lowered %d times: the test proves nothing", refused, lowered)
	}
	if finished.Throttled != refused {
		t.Errorf("finished line counts %d throttled, the server refused %d", finished.Throttled, refused)
	}
	if finished.FinalRate == nil || *finished.FinalRate <= 0 || *finished.FinalRate >= ceiling {
		t.Errorf("finished line final_rate %v, want below the ceiling %d", finished.FinalRate, ceiling)
	}
	if finished.SettledRate == nil || finished.PeakInFlight < 1 {
		t.Errorf("finished line lacks settled_rate or peak_in_flight:\n%s", res.stderr)
	}
}
