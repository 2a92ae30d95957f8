package report

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Metric names in the --metrics-file, for alert rules and dashboards.
const (
	MetricRows        = "bulkrevoke_rows"
	MetricLastSuccess = "bulkrevoke_last_success_timestamp_seconds"
	MetricExitCode    = "bulkrevoke_exit_code"
)

// Metrics is what the --metrics-file tells Prometheus about a run, through
// the node-exporter textfile collector.
type Metrics struct {
	Version string
	// Name and Shard tell runs apart (--name, --shard): labels on every
	// series of the file, the grouping key at a Pushgateway. Shard is ""
	// for a whole input.
	Name, Shard string
	// Rows counts the outcome file's rows by status.
	Rows map[revoke.Status]int64
	// InputRows is the number of data rows in the input; -1 when unknown.
	InputRows                    int64
	Requests, Retries, Throttled int64
	Start                        time.Time
	Duration                     time.Duration
	// Running marks a refresh written while the run goes on: it has no exit
	// code yet.
	Running  bool
	ExitCode int
	// LastSuccess is when the latest run that exited 0 or 4 (every valid
	// row done) ended; zero when no
	// run ever did. It is written as 0 then, so that an alert on its age
	// fires for a sweep that has never succeeded too.
	LastSuccess time.Time
	// LastSuccessUnknown leaves the last-success metric out: a push that
	// could not read the gateway's value must not replace it.
	LastSuccessUnknown bool
}

// labels are the labels that tell one run's series from another's.
func (m Metrics) labels() prometheus.Labels {
	l := prometheus.Labels{"name": m.Name}
	if m.Shard != "" {
		l["shard"] = m.Shard
	}
	return l
}

// WriteMetrics writes m to path in the Prometheus text format, atomically
// (a scrape never reads half a file), with mode 0644 so that the node
// exporter, which usually runs as another user, can read it.
func WriteMetrics(path string, m Metrics) error {
	// A private registry: the file must hold this run's metrics only, not
	// the Go runtime's that the default registry collects.
	reg := prometheus.NewPedanticRegistry()
	register(prometheus.WrapRegistererWith(m.labels(), reg), m)
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics file %s: %w", path, err)
	}
	return nil
}

// register registers m's metrics with reg.
func register(reg prometheus.Registerer, m Metrics) {
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	counter := func(name, help string, v int64) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		c.Add(float64(v))
		reg.MustRegister(c)
	}

	rows := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricRows,
		Help: "Input rows by final status in the outcome file, earlier runs' included when this one resumed them.",
	}, []string{"status"})
	// Every status gets a sample, zeros included: a missing series would
	// make "failed > 0" silently unknown rather than false.
	for _, s := range Statuses() {
		rows.WithLabelValues(string(s)).Set(float64(m.Rows[s]))
	}
	reg.MustRegister(rows)
	if m.InputRows >= 0 {
		gauge("bulkrevoke_input_rows", "Data rows in the input file, invalid ones included.", float64(m.InputRows))
	}
	counter("bulkrevoke_requests_total", "HTTP revocation requests sent by the run, retries included.", m.Requests)
	counter("bulkrevoke_retries_total", "HTTP requests that repeated a row after a transient failure.", m.Retries)
	counter("bulkrevoke_throttled_total", "Answers that told the run to slow down.", m.Throttled)
	gauge("bulkrevoke_start_timestamp_seconds", "When the run started, in Unix seconds.", unixSeconds(m.Start))
	gauge("bulkrevoke_duration_seconds", "How long the run has taken so far, or took.", m.Duration.Seconds())
	running := 0.0
	if m.Running {
		running = 1
	} else {
		gauge(MetricExitCode, "Exit code of the run: 0 ok, 1 some row failed, 2 usage, 3 stopped early, 4 no row failed but some were invalid.", float64(m.ExitCode))
	}
	gauge("bulkrevoke_running", "1 while the run goes on, 0 once it has ended.", running)
	if !m.LastSuccessUnknown {
		gauge(MetricLastSuccess, "When the latest run that exited 0, or 4 (every valid row done, some invalid), ended, in Unix seconds; 0 if none has.", unixSeconds(m.LastSuccess))
	}

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bulkrevoke_build_info",
		Help: "Always 1; the version label says which bulkrevoke wrote the file.",
	}, []string{"version"})
	info.WithLabelValues(m.Version).Set(1)
	reg.MustRegister(info)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// ReadLastSuccess returns the last-success time recorded in the metrics file
// an earlier run wrote at path, so that a run that does not succeed can
// carry it forward instead of resetting it. A missing file, or one without
// the metric, gives the zero time and no error.
func ReadLastSuccess(path string) (time.Time, error) {
	f, err := ownfile.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read metrics file %s: %w", path, err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return time.Time{}, fmt.Errorf("read metrics file %s: %w", path, err)
	}
	mf, ok := families[MetricLastSuccess]
	if !ok || len(mf.GetMetric()) == 0 {
		return time.Time{}, nil
	}
	v := mf.GetMetric()[0].GetGauge().GetValue()
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return time.Time{}, nil
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
