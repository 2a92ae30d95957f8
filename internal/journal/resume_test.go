package journal

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestResumeRules is the resume policy as a table: sidecar × file × flags →
// the rule that refuses ("" when the run continues), what its message must
// say, and whether the run checks targets and rewrites the sidecar.
func TestResumeRules(t *testing.T) {
	t.Parallel()
	const sum, other = "sha-of-this-input", "sha-of-another-input"
	real := func() *Meta { return &Meta{Input: "in.csv", InputSHA256: sum, Provider: "concur"} }
	with := func(edit func(*Meta)) *Meta { m := real(); edit(m); return m }
	base := Run{Out: "out.csv", Input: "in.csv", InputSHA256: sum, Provider: "concur"}
	flags := func(edit func(*Run)) Run { r := base; edit(&r); return r }
	ignore := func(r *Run) { r.IgnoreInputChange = true }
	sandbox := func(r *Run) { r.Sandbox = true }
	unreadable := errors.New("read out.csv.meta.json: unexpected end of JSON input")

	tests := []struct {
		name    string
		state   State
		run     Run
		rule    string   // "" when the run continues
		says    []string // in the refusal
		never   string   // never in the refusal
		check   bool     // CheckTargets
		rewrite bool     // RewritesMeta
	}{
		{name: "same input, same flags", state: State{Meta: real()}, run: base},
		{name: "empty file, no sidecar", state: State{Empty: true}, run: base, rewrite: true},
		{name: "empty file, no sidecar, sandbox", state: State{Empty: true}, run: flags(sandbox), rewrite: true},
		{name: "empty file, sidecar of another input", state: State{Empty: true, Meta: with(func(m *Meta) { m.InputSHA256 = other })}, run: base, rewrite: true},
		{name: "no sidecar", state: State{}, run: base, rule: "sidecar-unusable",
			says: []string{"out.csv.meta.json is missing", "--ignore-input-change"}},
		{name: "unreadable sidecar", state: State{MetaErr: unreadable}, run: base, rule: "sidecar-unusable",
			says: []string{unreadable.Error(), "--ignore-input-change"}},
		{name: "no sidecar, insisting", state: State{}, run: flags(ignore), check: true, rewrite: true},
		{name: "unreadable sidecar, insisting", state: State{MetaErr: unreadable}, run: flags(ignore), check: true, rewrite: true},
		{name: "another input", state: State{Meta: with(func(m *Meta) { m.InputSHA256 = other; m.Input = "old.csv" })}, run: base,
			rule: "input-changed", says: []string{"in.csv is not the input that out.csv was started from (old.csv", "--ignore-input-change"}},
		{name: "another input, insisting", state: State{Meta: with(func(m *Meta) { m.InputSHA256 = other })}, run: flags(ignore), check: true, rewrite: true},
		{name: "sidecar without a checksum, insisting", state: State{Meta: with(func(m *Meta) { m.InputSHA256 = "" })}, run: flags(ignore), check: true, rewrite: true},
		{name: "file marked for target checks", state: State{Meta: with(func(m *Meta) { m.CheckTargets = true })}, run: base, check: true},
		{name: "real file, sandbox run", state: State{Meta: real()}, run: flags(sandbox), rule: "sandbox-mixed",
			says: []string{"holds outcomes from a real instance, and this run is the --sandbox simulator"}},
		{name: "sandbox file, real run", state: State{Meta: with(func(m *Meta) { m.Sandbox = true })}, run: base, rule: "sandbox-mixed",
			says: []string{"holds outcomes from the --sandbox simulator, and this run is a real instance"}},
		{name: "sandbox file, real run, insisting", state: State{Meta: with(func(m *Meta) { m.Sandbox = true })}, run: flags(ignore), rule: "sandbox-mixed"},
		{name: "sandbox file, sandbox run", state: State{Meta: with(func(m *Meta) { m.Sandbox = true })}, run: flags(sandbox)},
		{name: "empty sandbox file, real run", state: State{Empty: true, Meta: with(func(m *Meta) { m.Sandbox = true })}, run: base, rewrite: true},
		// The misreport of old: this case said the file "holds outcomes from
		// the --sandbox simulator", which nothing showed.
		{name: "no sidecar, sandbox run, insisting", state: State{}, run: flags(func(r *Run) { ignore(r); sandbox(r) }), rule: "sandbox-unverifiable",
			says: []string{"out.csv.meta.json is missing", "cannot tell whether they are from a real instance"}, never: "holds outcomes from the --sandbox simulator"},
		{name: "unreadable sidecar, sandbox run, insisting", state: State{MetaErr: unreadable}, run: flags(func(r *Run) { ignore(r); sandbox(r) }), rule: "sandbox-unverifiable",
			says: []string{unreadable.Error()}, never: "holds outcomes from the --sandbox simulator"},
		{name: "no sidecar, sandbox run", state: State{}, run: flags(sandbox), rule: "sidecar-unusable"},
		{name: "another provider", state: State{Meta: real()}, run: flags(func(r *Run) { r.Provider = "rfc7009" }), rule: "provider-mixed",
			says: []string{"holds outcomes from --provider concur, and this run is --provider rfc7009"}},
		{name: "another provider, insisting", state: State{Meta: real()}, run: flags(func(r *Run) { ignore(r); r.Provider = "rfc7009" }), rule: "provider-mixed"},
		{name: "sidecar from before --provider", state: State{Meta: with(func(m *Meta) { m.Provider = "" })}, run: flags(func(r *Run) { r.Provider = "rfc7009" })},
		{name: "empty file of another provider", state: State{Empty: true, Meta: real()}, run: flags(func(r *Run) { r.Provider = "rfc7009" }), rewrite: true},
		{name: "another shard", state: State{Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: flags(func(r *Run) { r.Shard = "2/4" }), rule: "shard-mismatch",
			says: []string{"was started for shard 1/4, not shard 2/4"}},
		{name: "shard file, whole run", state: State{Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: base, rule: "shard-mismatch",
			says: []string{"was started for shard 1/4, not the whole input"}},
		{name: "empty file of another shard", state: State{Empty: true, Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: base, rule: "shard-mismatch"},
		{name: "another shard, insisting", state: State{Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: flags(ignore), rule: "shard-mismatch"},
		{name: "same shard", state: State{Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: flags(func(r *Run) { r.Shard = "1/4" })},
		// Order: the first rule that refuses decides.
		{name: "another input and provider", state: State{Meta: with(func(m *Meta) { m.InputSHA256 = other })}, run: flags(func(r *Run) { r.Provider = "rfc7009" }), rule: "input-changed"},
		{name: "sandbox and shard", state: State{Meta: with(func(m *Meta) { m.Shard = "1/4" })}, run: flags(sandbox), rule: "sandbox-mixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckResume(tt.state, tt.run)
			var refusal *Refusal
			switch {
			case tt.rule == "" && err != nil:
				t.Fatalf("refused by %v, want the run to continue", err)
			case tt.rule != "" && !errors.As(err, &refusal):
				t.Fatalf("CheckResume = %v, want a refusal by %s", err, tt.rule)
			case tt.rule != "" && refusal.Rule != tt.rule:
				t.Fatalf("refused by rule %s (%v), want %s", refusal.Rule, err, tt.rule)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("refusal %q does not say %q", err, s)
				}
			}
			if tt.never != "" && strings.Contains(err.Error(), tt.never) {
				t.Errorf("refusal %q says %q", err, tt.never)
			}
			if tt.rule != "" {
				return
			}
			if got := tt.state.CheckTargets(tt.run); got != tt.check {
				t.Errorf("CheckTargets = %v, want %v", got, tt.check)
			}
			if got := tt.state.RewritesMeta(tt.run); got != tt.rewrite {
				t.Errorf("RewritesMeta = %v, want %v", got, tt.rewrite)
			}
		})
	}
}

// TestResumeRulesHaveDistinctNames: a refusal names the rule that made it.
func TestResumeRulesHaveDistinctNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range ResumeRules {
		if r.Name == "" || seen[r.Name] || r.Refuse == nil {
			t.Errorf("rule %q: every rule needs a distinct name and a function", r.Name)
		}
		seen[r.Name] = true
	}
}

// TestInspect reads the state of real files: a missing sidecar is nil with
// no error, a damaged one an error, a file that is not an outcome file is
// refused.
func TestInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	writeOutcomes(t, out)
	s, err := Inspect(out)
	if err != nil || !s.Empty || s.Meta != nil || s.MetaErr != nil {
		t.Fatalf("new file without sidecar: %+v, %v; want empty, nil sidecar, no error", s, err)
	}
	writeOutcomes(t, filepath.Join(dir, "full.csv"), outcome(2, revoke.Revoked, ""))
	full := filepath.Join(dir, "full.csv")
	want := Meta{Input: "in.csv", InputSHA256: "abc", Version: "v1", Shard: "1/2", Sandbox: true, CheckTargets: true, Provider: "rfc7009"}
	if err := WriteMeta(full, want); err != nil {
		t.Fatal(err)
	}
	s, err = Inspect(full)
	if err != nil || s.Empty || s.Meta == nil || !reflect.DeepEqual(*s.Meta, want) || s.MetaErr != nil {
		t.Fatalf("file with sidecar: %+v, %v; want not empty and sidecar %+v", s, err, want)
	}
	if fi, err := os.Stat(MetaPath(full)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("sidecar: %v %v, want mode 0600", fi, err)
	}
	if err := os.WriteFile(MetaPath(full), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = Inspect(full); err != nil || s.Meta != nil || s.MetaErr == nil {
		t.Fatalf("damaged sidecar: %+v, %v; want nil sidecar and its error", s, err)
	}
	notes := filepath.Join(dir, "notes.csv")
	if err := os.WriteFile(notes, []byte("my notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(notes); !errors.Is(err, ErrNotJournal) {
		t.Fatalf("Inspect(notes) = %v, want ErrNotJournal", err)
	}
}
