package report

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// PushJob is the job label of every group bulkrevoke pushes to a
// Pushgateway; the run's name and shard complete the grouping key.
const PushJob = "bulkrevoke"

// Pusher sends a run's metrics to a Prometheus Pushgateway, where a
// Kubernetes Job, which leaves no textfile on any node, is scraped from.
type Pusher struct {
	URL    *url.URL
	Client *http.Client
}

// Push sends m to the group job="bulkrevoke", name, and shard when m has
// one. It adds (HTTP POST) rather than replaces the group, so that a
// metric left out of m, the last-success time when it is unknown, keeps
// the value the gateway holds.
func (p Pusher) Push(ctx context.Context, m Metrics) error {
	// The series carry no name or shard label: the gateway adds the
	// grouping key's labels to them, and refuses a push that has them.
	reg := prometheus.NewPedanticRegistry()
	register(reg, m)
	pusher := push.New(p.URL.String(), PushJob).Client(p.Client).Gatherer(reg)
	for k, v := range m.labels() {
		pusher = pusher.Grouping(k, v)
	}
	if err := pusher.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", p.URL.Redacted(), err)
	}
	return nil
}

// LastSuccess reads from the gateway the last-success time of the group
// of name and shard, as a run's metrics file carries it forward. known is
// false when the gateway could not say; a group that has none yet is
// known, with the zero time.
func (p Pusher) LastSuccess(ctx context.Context, name, shard string) (t time.Time, known bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL.JoinPath("metrics").String(), nil)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read metrics from %s: %w", p.URL.Redacted(), err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := p.Client.Do(req)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read metrics from %s: %w", p.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, false, fmt.Errorf("read metrics from %s: %s", p.URL.Redacted(), resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read metrics from %s: %w", p.URL.Redacted(), err)
	}
	want := map[string]string{"job": PushJob, "name": name, "shard": shard}
	for _, m := range families[MetricLastSuccess].GetMetric() {
		got := map[string]string{"shard": ""}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["job"] != want["job"] || got["name"] != want["name"] || got["shard"] != want["shard"] {
			continue
		}
		v := m.GetGauge().GetValue()
		if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return time.Time{}, true, nil
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)), true, nil
	}
	return time.Time{}, true, nil
}
