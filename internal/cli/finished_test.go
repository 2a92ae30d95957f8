package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bulkrevoke/bulkrevoke/internal/progress"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestFinishedLineKeys holds the finished line and the Finished type
// together: what the line writes decodes into the value it was written
// from, and the line has no key the type lacks.
func TestFinishedLineKeys(t *testing.T) {
	t.Parallel()
	snap := progress.Snapshot{
		RunRows: map[revoke.Status]int64{revoke.Revoked: 7, revoke.NotFound: 1, revoke.Failed: 2, revoke.Invalid: 0, revoke.Duplicate: 3, revoke.DryRun: 0},
		Stats:   revoke.Stats{Requests: 20, Retries: 4, Throttled: 2, Unrecorded: 1, Probes: 1, Skipped: 5, Rate: 12.5, SettledRate: 11.26, PeakInFlight: 9},
	}
	for _, stopped := range []error{nil, errors.New("interrupted (SIGINT)")} {
		want := newFinished(snap, 2*time.Second, 3, stopped)
		want.EmptyRows = 2
		if want.SettledRate != 11.3 || want.AchievedRate != 10 || want.DurationMS != 2000 || want.Probes != 1 {
			t.Errorf("newFinished = %+v", want)
		}
		var b bytes.Buffer
		want.log(zerolog.New(&b))
		var got Finished
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("finished line %s: %v", b.Bytes(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %+v\nwrote   %+v\nline %s", got, want, b.Bytes())
		}
		var keys map[string]any
		if err := json.Unmarshal(b.Bytes(), &keys); err != nil {
			t.Fatal(err)
		}
		typeKeys := []string{"level", "message"}
		ft := reflect.TypeFor[Finished]()
		for i := range ft.NumField() {
			typeKeys = append(typeKeys, strings.Split(ft.Field(i).Tag.Get("json"), ",")[0])
		}
		for k := range keys {
			if !slices.Contains(typeKeys, k) {
				t.Errorf("finished line key %q is not in the Finished type", k)
			}
		}
		if level := keys["level"]; (stopped != nil) != (level == "error") {
			t.Errorf("level %v with stopped=%v", level, stopped)
		}
	}
}
