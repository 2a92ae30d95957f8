package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// jobDir holds the repository's job files.
const jobDir = "../../jobs"

// sampleInput is the repository's sample, the README's first command: 9
// data rows on lines 2–10, line 9 a duplicate of line 2, none invalid.
// sampleWithErrors, the dry-run example of docs/OPERATIONS.md, is the same with two
// invalid rows after them: line 11 a user without consumerKey, line 12 a
// token and a user on one row.
const (
	sampleInput      = "../../sample-input.csv"
	sampleWithErrors = "../../sample-input-with-errors.csv"
)

// checkSampleOutcomes checks an outcome file of a dry run over
// sampleWithErrors: line 9 duplicate, the given lines invalid, every other
// line dry_run.
func checkSampleOutcomes(t *testing.T, path string, invalid ...int64) {
	t.Helper()
	got := readOutcomes(t, path)
	if len(got) != 11 {
		t.Errorf("%s holds %d rows, want one per input row (11)", path, len(got))
	}
	for line := int64(2); line <= 12; line++ {
		want := revoke.DryRun
		switch {
		case slices.Contains(invalid, line):
			want = revoke.Invalid
		case line == 9:
			want = revoke.Duplicate
		}
		if got[line].Status != want {
			t.Errorf("line %d: %q, want %q", line, got[line].Status, want)
		}
	}
}

// sampleInvalid are sampleWithErrors' invalid lines for Concur.
var sampleInvalid = []int64{11, 12}

// TestJobFilesDryRun runs every job file in jobs/ through the real parser
// and a whole dry run, as docs/OPERATIONS.md shows from the repository root:
// bulkrevoke run --job jobs/X.yaml --dry-run sample-input-with-errors.csv
//
// It is not parallel: the job files' relative paths resolve against the
// working directory, which the test moves to a scratch directory so that
// outcome files do not land in the source tree.
func TestJobFilesDryRun(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(jobDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"offboarding.yaml", "nightly.yaml", "breach.yaml"} {
		if !strings.Contains(strings.Join(files, " "), want) {
			t.Errorf("jobs/%s is missing", want)
		}
	}
	sample, err := filepath.Abs(sampleWithErrors)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		job, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := parseRun([]string{"--job", job, "--dry-run", sample}, func(string) string { return "" }, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if cfg.Out == "" || filepath.IsAbs(cfg.Out) {
				t.Fatalf("out %q: want a relative path, so the dry run works anywhere", cfg.Out)
			}
			if !cfg.Resume {
				t.Errorf("want resume: true, so that running the same command again continues the run")
			}
			b, err := os.ReadFile(job)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(b, []byte("\n#")) < 5 {
				t.Errorf("want comments an operator can adapt the file by")
			}

			dir := t.TempDir()
			t.Chdir(dir)
			// Twice: a job file with resume: true can be run again.
			for run := 1; run <= 2; run++ {
				res := runMain(t, context.Background(), nil, "", "run", "--job", job, "--dry-run", "--log-format", "json", sample)
				if res.code != ExitInvalid {
					t.Fatalf("run %d: exit %d, want %d (the sample has invalid rows, and a dry run fails none):\n%s", run, res.code, ExitInvalid, res.stderr)
				}
				if strings.Contains(res.stderr, "bulkrevoke: ") {
					t.Errorf("run %d: unexpected error:\n%s", run, res.stderr)
				}
				if cfg.Provider == ProviderRFC7009 {
					checkRFC7009SampleOutcomes(t, filepath.Join(dir, cfg.Out))
				} else {
					checkSampleOutcomes(t, filepath.Join(dir, cfg.Out), sampleInvalid...)
				}
			}
		})
	}
}

// TestRealRunAfterDryRunSendsEveryRow: a job file says resume: true, so an
// operator who tries it with --dry-run and then runs it for real resumes the
// dry run's outcome file. The dry run sent nothing, so every row must be
// sent now.
func TestRealRunAfterDryRunSendsEveryRow(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{Live: true}, nil)
	dir := t.TempDir()
	out := filepath.Join(dir, "outcomes.csv")
	job := writeFile(t, dir, "job.yaml", "resume: true\nrate: 0\nout: "+out+"\nbase-url: "+srv.url+"\n")
	env := map[string]string{EnvAdminToken: testAdminToken}

	if res := runMain(t, context.Background(), env, "", "run", "--job", job, "--dry-run", sampleWithErrors); res.code != ExitInvalid {
		t.Fatalf("dry run: exit %d:\n%s", res.code, res.stderr)
	}
	checkSampleOutcomes(t, out, sampleInvalid...)
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the dry run sent %d requests", n)
	}

	if res := runMain(t, context.Background(), env, "", "run", "--job", job, sampleWithErrors); res.code != ExitInvalid {
		t.Fatalf("real run: exit %d:\n%s", res.code, res.stderr)
	}
	got := readOutcomes(t, out)
	if len(got) != 11 {
		t.Errorf("outcome file holds %d rows, want 11", len(got))
	}
	for line, o := range got {
		if o.Status == revoke.DryRun {
			t.Errorf("line %d still dry_run after the real run", line)
		}
	}
	// 11 rows: one duplicate and two invalid are never sent.
	if n := srv.hits.Load(); n != 8 {
		t.Errorf("the real run sent %d requests, want 8", n)
	}
}

func TestJobFileRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []string // in the error
	}{
		{"unknown key", "rate: 5\nspeed: 9\n", []string{`"speed"`, "line 2"}},
		{"key given twice", "rate: 5\nout: a.csv\nrate: 9\n", []string{"rate", "line 3", "line 1"}},
		{"admin token", "out: a.csv\nadmin-token: abc\n", []string{"admin-token", "line 2", "secrets"}},
		{"impossible shard", "out: a.csv\nshard: 4/4\n", []string{"shard", "line 2", "count from 0"}},
		{"negative budget", "out: a.csv\nmax-duration: -5m\n", []string{"--max-duration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job := writeFile(t, t.TempDir(), "job.yaml", tc.body)
			res := runMain(t, context.Background(), nil, "", "run", "--job", job, "--dry-run", "in.csv")
			if res.code != ExitUsage {
				t.Fatalf("exit %d, want %d:\n%s", res.code, ExitUsage, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("error does not say %q:\n%s", w, res.stderr)
				}
			}
		})
	}
}

// TestJobFilePathsAreRelativeToTheWorkingDirectory pins the documented
// rule: a job file is flags written down, so its relative paths mean what
// they would mean on the command line.
func TestJobFilePathsAreRelativeToTheWorkingDirectory(t *testing.T) {
	t.Parallel()
	job := writeFile(t, t.TempDir(), "job.yaml", "input: in.csv\nout: results/out.csv\nadmin-token-file: token\n")
	cfg, err := parseRun([]string{"--job", job, "--dry-run"}, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Input != "in.csv" || cfg.Out != "results/out.csv" {
		t.Errorf("input %q, out %q: want them as written, relative to the working directory", cfg.Input, cfg.Out)
	}
}
