package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// pushgatewayBinary is Debian's prometheus-pushgateway package; .ci/run
// installs it.
const pushgatewayBinary = "/usr/bin/prometheus-pushgateway"

// startPushgateway runs a real Pushgateway on a free loopback port, without
// persistence, until the test ends, and returns its URL. It skips the test
// when the gateway is not installed.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath(pushgatewayBinary)
	if err != nil {
		t.Skipf("no Pushgateway (apt-get install prometheus-pushgateway): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never left running: killed and reaped however the test ends.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	guard := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(guard) {
			t.Fatalf("the Pushgateway at %s never got ready: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gatewaySeries reads the gateway's /metrics as Prometheus would scrape it
// and returns the bulkrevoke samples of the group name, shard, keyed like
// readMetrics (without the grouping labels).
func gatewaySeries(t *testing.T, gateway, name, shard string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(gateway + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("gateway metrics do not parse: %v", err)
	}
	got := map[string]float64{}
	for fam, mf := range mfs {
		if !strings.HasPrefix(fam, "bulkrevoke_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			var rest []string
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
				switch lp.GetName() {
				case "job", "name", "shard", "instance":
				default:
					rest = append(rest, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
				}
			}
			if labels["job"] != report.PushJob || labels["name"] != name || labels["shard"] != shard {
				continue
			}
			key := fam
			if len(rest) > 0 {
				key += "{" + strings.Join(rest, ",") + "}"
			}
			got[key] = gatewayValue(m)
		}
	}
	return got
}

func gatewayValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestPushgatewayTwoShards pushes two shards of one sweep to a real
// Pushgateway and reads them back as Prometheus would: each shard's series
// under job="bulkrevoke", its name and its shard, agreeing with its own
// outcome file. Then a failing run of one shard keeps that shard's
// last-success time, and the other shard's series are untouched.
func TestPushgatewayTwoShards(t *testing.T) {
	t.Parallel()
	gateway := startPushgateway(t)
	srv := newServer(t, sim.Config{Live: true}, nil)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("token\n")
	for i := range 30 {
		fmt.Fprintf(&b, "tok-push-%02d\n", i)
	}
	b.WriteString("tok with a space\n") // invalid: its shard exits 4
	in := writeFile(t, dir, "in.csv", b.String())
	env := map[string]string{EnvAdminToken: testAdminToken}

	codes := map[string]int{}
	outs := map[string]string{}
	before := time.Now()
	for _, shard := range []string{"0/2", "1/2"} {
		out := filepath.Join(dir, "out-"+strings.ReplaceAll(shard, "/", "of")+".csv")
		outs[shard] = out
		res := runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--rate", "0", "--log-format", "json",
			"--progress-interval", "20ms", "--shard", shard, "--name", "sweep", "--push-url", gateway, "--out", out, in)
		if res.code != ExitOK && res.code != ExitInvalid {
			t.Fatalf("shard %s: exit %d:\n%s", shard, res.code, res.stderr)
		}
		if hasLogLine(res.stderr, "warn", "Pushgateway") {
			t.Errorf("shard %s: a warning about the gateway:\n%s", shard, res.stderr)
		}
		codes[shard] = res.code
	}
	if codes["0/2"] == codes["1/2"] {
		t.Fatalf("both shards exited %d: the invalid row should make exactly one exit 4", codes["0/2"])
	}

	lastSuccess := map[string]float64{}
	for shard, code := range codes {
		got := gatewaySeries(t, gateway, "sweep", shard)
		counts := countFile(t, outs[shard])
		for _, s := range report.Statuses() {
			key := fmt.Sprintf("bulkrevoke_rows{status=%q}", s)
			if v, ok := got[key]; !ok || v != float64(counts[s]) {
				t.Errorf("shard %s: %s = %v (present %v), outcome file has %d", shard, key, v, ok, counts[s])
			}
		}
		if got["bulkrevoke_exit_code"] != float64(code) || got["bulkrevoke_running"] != 0 {
			t.Errorf("shard %s: exit_code %v running %v, want %d and 0", shard, got["bulkrevoke_exit_code"], got["bulkrevoke_running"], code)
		}
		if got[fmt.Sprintf("bulkrevoke_build_info{version=%q}", Version())] != 1 {
			t.Errorf("shard %s: no build_info: %v", shard, got)
		}
		last, ok := got[report.MetricLastSuccess]
		switch {
		case !ok:
			t.Errorf("shard %s: no last-success series", shard)
		case last < float64(before.Unix()):
			// 4 counts: every valid row is done, the rest is a data problem.
			t.Errorf("shard %s exited %d, but last success is %v", shard, code, last)
		}
		lastSuccess[shard] = last
	}

	// The shard that succeeded runs again and fails: the gateway keeps its
	// last success, and now says exit 1.
	okShard := "0/2"
	if codes[okShard] != ExitOK {
		okShard = "1/2"
	}
	down := newServer(t, sim.Config{Fault: func(int64, *http.Request) sim.Fault { return sim.Status503 }}, nil)
	res := runMain(t, context.Background(), env, "", "run", "--base-url", down.url, "--rate", "0", "--max-attempts", "1", "--log-format", "json",
		"--shard", okShard, "--name", "sweep", "--push-url", gateway, "--force", "--out", outs[okShard], in)
	if res.code != ExitRows {
		t.Fatalf("failing run: exit %d:\n%s", res.code, res.stderr)
	}
	got := gatewaySeries(t, gateway, "sweep", okShard)
	if got["bulkrevoke_exit_code"] != ExitRows || got[report.MetricLastSuccess] != lastSuccess[okShard] {
		t.Errorf("after a failing run: exit_code %v last success %v, want %d and the earlier %v",
			got["bulkrevoke_exit_code"], got[report.MetricLastSuccess], ExitRows, lastSuccess[okShard])
	}
	if c := countFile(t, outs[okShard]); got[fmt.Sprintf("bulkrevoke_rows{status=%q}", revoke.Failed)] != float64(c[revoke.Failed]) || c[revoke.Failed] == 0 {
		t.Errorf("failed rows at the gateway %v, outcome file %d", got[`bulkrevoke_rows{status="failed"}`], c[revoke.Failed])
	}
	other := "1/2"
	if okShard == "1/2" {
		other = "0/2"
	}
	if got := gatewaySeries(t, gateway, "sweep", other); got["bulkrevoke_exit_code"] != float64(codes[other]) {
		t.Errorf("the other shard's exit code changed to %v", got["bulkrevoke_exit_code"])
	}

	// A sweep that has never succeeded says so with 0, so that the alert on
	// the age of its last success fires for it too.
	res = runMain(t, context.Background(), env, "", "run", "--base-url", down.url, "--rate", "0", "--max-attempts", "1", "--log-format", "json",
		"--name", "never", "--push-url", gateway, "--out", filepath.Join(dir, "never.csv"), in)
	if res.code != ExitRows {
		t.Fatalf("never: exit %d:\n%s", res.code, res.stderr)
	}
	if last, ok := gatewaySeries(t, gateway, "never", "")[report.MetricLastSuccess]; !ok || last != 0 {
		t.Errorf("a sweep that never succeeded: last success %v (present %v), want 0", last, ok)
	}
}

// TestPushgatewayUnreachable: a gateway that is down costs a warning, never
// the run; a push URL that would send metrics in the clear off the machine
// is refused before anything is sent.
func TestPushgatewayUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	srv := newServer(t, sim.Config{Live: true}, nil)
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-1\ntok-2\n")
	env := map[string]string{EnvAdminToken: testAdminToken}
	res := runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--rate", "0", "--log-format", "json",
		"--push-url", closed, "--out", filepath.Join(dir, "o.csv"), in)
	if res.code != ExitOK {
		t.Fatalf("exit %d with the gateway down, want 0:\n%s", res.code, res.stderr)
	}
	if !hasLogLine(res.stderr, "warn", "cannot push the metrics") {
		t.Errorf("no warning about the gateway:\n%s", res.stderr)
	}
	if c := countFile(t, filepath.Join(dir, "o.csv")); c[revoke.Revoked] != 2 {
		t.Errorf("outcomes %v", c)
	}

	for _, bad := range []string{"http://pushgateway.monitoring:9091", "ftp://127.0.0.1:9091", "https://user:pw@gw:9091"} {
		hits := srv.hits.Load()
		res := runMain(t, context.Background(), env, "", "run", "--base-url", srv.url, "--push-url", bad, "--out", filepath.Join(dir, "o2.csv"), in)
		if res.code != ExitUsage || !strings.Contains(res.stderr, "--push-url") || srv.hits.Load() != hits {
			t.Errorf("--push-url %s: exit %d, %d requests:\n%s", bad, res.code, srv.hits.Load()-hits, res.stderr)
		}
		if strings.Contains(res.stderr, "pw@") {
			t.Errorf("the refusal repeats the URL's password: %s", res.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "o2.csv")); err == nil {
			t.Errorf("--push-url %s: refused, yet an outcome file was left", bad)
		}
	}
}

// TestPushedDuringTheRun: the metrics reach the gateway every
// --progress-interval while the run goes (running 1), and once more at the
// end (running 0, with the exit code). 20 rows one at a time at 20 ms each
// take at least 400 ms, so a 50 ms interval ticks during the run.
func TestPushedDuringTheRun(t *testing.T) {
	t.Parallel()
	type push struct {
		path    string
		running float64
		exit    float64
		hasExit bool
	}
	var mu sync.Mutex
	var pushes []push
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // the last-success read
			w.WriteHeader(http.StatusOK)
			return
		}
		p := push{path: r.Method + " " + r.URL.Path}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				break
			}
			switch mf.GetName() {
			case "bulkrevoke_running":
				p.running = mf.GetMetric()[0].GetGauge().GetValue()
			case "bulkrevoke_exit_code":
				p.exit, p.hasExit = mf.GetMetric()[0].GetGauge().GetValue(), true
			}
		}
		mu.Lock()
		pushes = append(pushes, p)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(gw.Close)
	srv := newServer(t, sim.Config{Live: true, Latency: 20 * time.Millisecond}, nil)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("token\n")
	for i := range 20 {
		fmt.Fprintf(&b, "tok-mid-%02d\n", i)
	}
	in := writeFile(t, dir, "in.csv", b.String())
	res := runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "", "run", "--base-url", srv.url,
		"--rate", "0", "--concurrency", "1", "--log-format", "json", "--progress", "off", "--progress-interval", "50ms",
		"--job", writeFile(t, dir, "nightly.yaml", "max-attempts: 2\n"), "--push-url", gw.URL, "--out", filepath.Join(dir, "o.csv"), in)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pushes) < 3 {
		t.Fatalf("%d pushes, want the first, at least one during the run, and the last: %+v", len(pushes), pushes)
	}
	for _, p := range pushes {
		if p.path != "POST /metrics/job/bulkrevoke/name/nightly" {
			t.Errorf("push to %s, want POST (add) to the group of job bulkrevoke, name nightly", p.path)
		}
	}
	for _, p := range pushes[:len(pushes)-1] {
		if p.running != 1 || p.hasExit {
			t.Errorf("push during the run: running %v, exit code present %v", p.running, p.hasExit)
		}
	}
	if last := pushes[len(pushes)-1]; last.running != 0 || !last.hasExit || last.exit != ExitOK {
		t.Errorf("last push %+v, want running 0 and exit code 0", last)
	}
}
