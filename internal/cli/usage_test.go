package cli

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRunUsageGolden locks the text of "bulkrevoke run -h": operators and
// wrappers read it. Run with -update to accept a deliberate change.
func TestRunUsageGolden(t *testing.T) {
	t.Parallel()
	res := runMain(t, context.Background(), nil, "", "run", "-h")
	if res.code != ExitOK {
		t.Fatalf("run -h exited %d", res.code)
	}
	golden := filepath.Join("testdata", "run-usage.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(res.stderr), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run TestRunUsageGolden -update)", err)
	}
	if res.stderr != string(want) {
		t.Errorf("run -h text changed; if deliberate, run with -update. got:\n%s", res.stderr)
	}
}
