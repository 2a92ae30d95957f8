package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// value is the value of the sample of name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func TestWriteMetrics(t *testing.T) {
	t.Parallel()
	success := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	rows := map[revoke.Status]int64{revoke.Revoked: 7, revoke.Failed: 2}
	base := Metrics{Version: "v9.9.9", Rows: rows, InputRows: 12, Requests: 15, Retries: 3, Throttled: 1,
		Start: success.Add(-time.Hour), Duration: 90 * time.Second, ExitCode: 1, LastSuccess: success}
	cases := []struct {
		name        string
		edit        func(*Metrics)
		exitCode    float64 // -1: the series must be absent
		running     float64
		lastSuccess float64
		inputRows   float64 // -1: absent
	}{
		{"final, rows failed", func(*Metrics) {}, 1, 0, float64(success.Unix()), 12},
		{"refresh during the run", func(m *Metrics) { m.Running = true }, -1, 1, float64(success.Unix()), 12},
		{"never succeeded, standard input", func(m *Metrics) { m.LastSuccess = time.Time{}; m.InputRows = -1 }, 1, 0, 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := base
			tc.edit(&m)
			path := filepath.Join(t.TempDir(), "bulkrevoke.prom")
			if err := WriteMetrics(path, m); err != nil {
				t.Fatal(err)
			}
			mfs := testutil.ParseMetrics(t, path)
			for _, s := range Statuses() {
				got, ok := value(t, mfs, MetricRows, map[string]string{"status": string(s)})
				if !ok || got != float64(rows[s]) {
					t.Errorf("%s{status=%q} = %v (present %v), want %d", MetricRows, s, got, ok, rows[s])
				}
			}
			for name, want := range map[string]float64{
				"bulkrevoke_requests_total": 15, "bulkrevoke_retries_total": 3, "bulkrevoke_throttled_total": 1,
				"bulkrevoke_duration_seconds": 90, "bulkrevoke_running": tc.running,
				MetricLastSuccess: tc.lastSuccess, MetricExitCode: tc.exitCode, "bulkrevoke_input_rows": tc.inputRows,
			} {
				got, ok := value(t, mfs, name, nil)
				if want == -1 {
					if ok {
						t.Errorf("%s = %v, want no such series", name, got)
					}
					continue
				}
				if !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
				}
			}
			if got, ok := value(t, mfs, "bulkrevoke_build_info", map[string]string{"version": "v9.9.9"}); !ok || got != 1 {
				t.Errorf("build_info{version=v9.9.9} = %v (present %v)", got, ok)
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644 so the node exporter can read it", fi.Mode().Perm())
			}
		})
	}
}

func TestReadLastSuccess(t *testing.T) {
	t.Parallel()
	when := time.Date(2025, 5, 6, 7, 8, 9, 250_000_000, time.UTC)
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    time.Time
		wantErr bool
	}{
		{"no file yet", func(*testing.T, string) {}, time.Time{}, false},
		{"written by an earlier run", func(t *testing.T, path string) {
			if err := WriteMetrics(path, Metrics{Version: "v1", LastSuccess: when}); err != nil {
				t.Fatal(err)
			}
		}, when, false},
		{"earlier run never succeeded", func(t *testing.T, path string) {
			if err := WriteMetrics(path, Metrics{Version: "v1"}); err != nil {
				t.Fatal(err)
			}
		}, time.Time{}, false},
		{"file without the metric", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("other_metric 3\n"), 0o644)
		}, time.Time{}, false},
		{"not a metrics file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("{\"this is\": json}\n"), 0o644)
		}, time.Time{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "m.prom")
			tc.prepare(t, path)
			got, err := ReadLastSuccess(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if d := got.Sub(tc.want); d > time.Millisecond || d < -time.Millisecond || got.IsZero() != tc.want.IsZero() {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
