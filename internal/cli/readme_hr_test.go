package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestReadmeOffboarding runs the commands of the README's "Offboarding from
// an HR export", as written there, on the sample files they name: a dry run
// that shows the fan-out, the sweep, and the retry that sends nothing more.
func TestReadmeOffboarding(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Offboarding from an HR export\n")
	if !ok {
		t.Fatal("README has no section \"Offboarding from an HR export\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var commands [][]string
	inBlock := false
	for line := range strings.Lines(section) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && strings.HasPrefix(line, "bulkrevoke run "):
			commands = append(commands, strings.Fields(line)[1:])
		}
	}
	if len(commands) != 3 {
		t.Fatalf("%d bulkrevoke commands in the section, want 3 (dry run, run, retry)", len(commands))
	}
	// The commands' files: samples from the repository, outputs in a
	// temporary directory, all by absolute path.
	dir := t.TempDir()
	for _, args := range commands {
		for i, a := range args {
			if i == 0 || strings.HasPrefix(a, "-") {
				continue // "run", and the flags
			}
			if b, err := os.ReadFile(filepath.Join("../..", a)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, a), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args[i] = filepath.Join(dir, a)
		}
	}
	pairs := func(path string) map[outcomeKey]revoke.Status {
		got := map[outcomeKey]revoke.Status{}
		if _, err := journal.Read(path, func(o revoke.Outcome) error {
			got[outcomeKey{o.Line, o.ConsumerKey}] = o.Status
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	const leavers, apps = 3, 2
	for step, args := range commands {
		res := runMain(t, context.Background(), nil, "", append(args, "--log-format", "json")...)
		if res.code != ExitOK {
			t.Fatalf("step %d (%s): exit %d:\n%s", step+1, strings.Join(args, " "), res.code, res.stderr)
		}
		fin := finishedLine(t, res.stderr)
		if fin.EmptyRows != 2 {
			t.Errorf("step %d: empty_rows %d, want 2", step+1, fin.EmptyRows)
		}
		out := args[indexOf(args, "--out")+1]
		got := pairs(out)
		if len(got) != leavers*apps {
			t.Errorf("step %d: %d outcome rows, want %d: %v", step+1, len(got), leavers*apps, got)
		}
		want := revoke.Revoked
		if step == 0 {
			want = revoke.DryRun
		}
		for k, st := range got {
			if st != want {
				t.Errorf("step %d: %v is %s, want %s", step+1, k, st, want)
			}
		}
		if step == 2 && fin.Requests != 0 {
			t.Errorf("the retry of a complete sweep sent %d requests", fin.Requests)
		}
	}
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}
