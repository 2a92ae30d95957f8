// Package testutil holds the helpers that the tests of several packages
// share. It is for tests only: no non-test file may import it (its own test
// checks that), so nothing here reaches the binary.
package testutil

import (
	"bytes"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// LockedBuffer is a bytes.Buffer that several goroutines (a logger, a
// progress bar) and the test can share. The zero value is ready to use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bytes returns a copy of what has been written so far.
func (l *LockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// ParseMetrics reads a metrics file with Prometheus's own text parser, as
// the node exporter would, and fails the test if it does not parse.
func ParseMetrics(t testing.TB, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("metrics file does not parse: %v", err)
	}
	return mfs
}

// AssertNoSecret fails the test if err's text holds any of secrets, raw,
// query-escaped or path-escaped. A nil err passes.
func AssertNoSecret(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if strings.Contains(msg, form) {
				t.Errorf("error %q contains secret %q", msg, form)
				break
			}
		}
	}
}
