package journal

import (
	"fmt"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// The resume policy: whether a run may continue an outcome file that
// already exists. It is an ordered table of named rules, each a small
// function of what the file holds (State) and what this run is (Run); the
// first rule that refuses decides. Reading the file and acting on the
// verdict is the caller's.

// State is what an existing outcome file holds, as far as resuming it goes.
type State struct {
	// Meta is its sidecar; nil when the sidecar is missing or unreadable.
	Meta *Meta
	// MetaErr says why a sidecar that exists could not be read; nil when
	// there is none, or when Meta is set.
	MetaErr error
	// Empty means the file holds no complete outcome (a header, or a torn
	// line, at most). An empty file has nothing to confuse with another
	// input's rows; it is also what a kill between creating the file and
	// writing its sidecar leaves, which must stay resumable.
	Empty bool
}

// Run is what the resuming run is: the flags and the input the rules weigh.
type Run struct {
	Out, Input string
	// InputSHA256 is the SHA-256 of this run's input.
	InputSHA256       string
	IgnoreInputChange bool
	Sandbox           bool
	Provider          string
	// Shard is --shard as it is written in the sidecar, "" for none.
	Shard string
	// ConsumerKeys are the applications user rows naming none are fanned
	// out over (--consumer-key): with them, a line is done one
	// application at a time.
	ConsumerKeys []string
	// InputLines holds the line of every row this run takes (the shard's,
	// with --shard), for the record rules. cli always sets it; nil (unit
	// tests of the other rules) skips record-past-input.
	InputLines *LineSet
}

// Inspect reads the state of the existing outcome file at out. A file that
// is not an outcome file (Check) is an error: it is left as it is.
func Inspect(out string) (State, error) {
	if err := Check(out); err != nil {
		return State{}, fmt.Errorf("--resume: %w", err)
	}
	empty, err := Empty(out)
	if err != nil {
		return State{}, fmt.Errorf("resume: %w", err)
	}
	meta, metaErr := ReadMeta(out)
	return State{Meta: meta, MetaErr: metaErr, Empty: empty}, nil
}

// Rule is one named resume refusal. Refuse returns nil when the rule lets
// the run continue, and otherwise the message to refuse with.
type Rule struct {
	Name   string
	Refuse func(State, Run) error
}

// Refusal is a resume refused by a rule.
type Refusal struct {
	Rule string
	Err  error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// ResumeRules are the resume refusals, in the order they are checked.
var ResumeRules = []Rule{
	{"sidecar-unusable", sidecarUnusable},
	{"input-changed", inputChanged},
	{"sandbox-mixed", sandboxMixed},
	{"sandbox-unverifiable", sandboxUnverifiable},
	{"provider-mixed", providerMixed},
	{"shard-mismatch", shardMismatch},
}

// CheckResume applies ResumeRules in order: nil when the run may continue
// the file, else the first rule's *Refusal.
func CheckResume(s State, r Run) error {
	for _, rule := range ResumeRules {
		if err := rule.Refuse(s, r); err != nil {
			return &Refusal{Rule: rule.Name, Err: err}
		}
	}
	return nil
}

// sidecarUnusable: without a sidecar nothing says INPUT is the file the
// outcomes were recorded from, so a file holding outcomes is not resumed
// unless the operator insists.
func sidecarUnusable(s State, r Run) error {
	if r.IgnoreInputChange || s.Empty || s.Meta != nil {
		return nil
	}
	return fmt.Errorf("%s; if INPUT is surely the file this outcome file was started from, add --ignore-input-change", noSidecar(s, r))
}

// inputChanged: the outcomes were recorded from another input, whose line
// numbers may name other targets.
func inputChanged(s State, r Run) error {
	if r.IgnoreInputChange || s.Empty || s.Meta == nil || s.Meta.InputSHA256 == r.InputSHA256 {
		return nil
	}
	return fmt.Errorf("%s is not the input that %s was started from (%s, SHA-256 differs): refusing to resume; add --ignore-input-change to insist",
		r.Input, r.Out, s.Meta.Input)
}

// sandboxMixed: a simulator's "revoked" must never stand for a real
// revocation, nor a real run's rows be skipped by a sandbox run.
func sandboxMixed(s State, r Run) error {
	if s.Empty || s.Meta == nil || s.Meta.Sandbox == r.Sandbox {
		return nil
	}
	return fmt.Errorf("%s holds outcomes from %s, and this run is %s: refusing to mix them in one outcome file",
		r.Out, sandboxText(s.Meta.Sandbox), sandboxText(r.Sandbox))
}

// sandboxUnverifiable: without a sidecar a sandbox run cannot tell whether
// the outcomes are a real instance's, so it refuses. (A real run without a
// sidecar has insisted with --ignore-input-change; the file is then marked
// as its own.)
func sandboxUnverifiable(s State, r Run) error {
	if s.Empty || s.Meta != nil || !r.Sandbox {
		return nil
	}
	return fmt.Errorf("%s holds outcomes, and %s: this --sandbox run cannot tell whether they are from a real instance: refusing to mix them in one outcome file",
		r.Out, noSidecar(s, r))
}

// providerMixed: a Concur outcome says nothing of an RFC 7009 endpoint, nor
// the reverse. A sidecar from before --provider names none.
func providerMixed(s State, r Run) error {
	if s.Empty || s.Meta == nil || s.Meta.Provider == "" || s.Meta.Provider == r.Provider {
		return nil
	}
	return fmt.Errorf("%s holds outcomes from --provider %s, and this run is --provider %s: refusing to mix them in one outcome file",
		r.Out, s.Meta.Provider, r.Provider)
}

// shardMismatch: rows of another shard would be recorded here and this
// file's own rows never skipped: each shard keeps its own outcome file. It
// holds for an empty file too, whose sidecar still names its shard.
func shardMismatch(s State, r Run) error {
	if s.Meta == nil || s.Meta.Shard == r.Shard {
		return nil
	}
	return fmt.Errorf("%s was started for %s, not %s: each shard keeps its own outcome file; refusing to resume",
		r.Out, shardText(s.Meta.Shard), shardText(r.Shard))
}

// RecordRule is a resume refusal about one recorded outcome, checked for
// every record as ReadDone reads the file.
type RecordRule struct {
	Name   string
	Refuse func(revoke.Outcome, Run) error
}

// RecordRules are the record refusals, in the order they are checked.
var RecordRules = []RecordRule{
	{"record-past-input", recordPastInput},
}

// checkRecord applies RecordRules in order to o.
func checkRecord(o revoke.Outcome, r Run) error {
	for _, rule := range RecordRules {
		if err := rule.Refuse(o, r); err != nil {
			return &Refusal{Rule: rule.Name, Err: err}
		}
	}
	return nil
}

// recordPastInput: a record for a line on which no row of this run starts
// would survive compaction, and the completed file would hold a row the
// input does not have: the file was edited, or is another input's. Nothing
// here can tell which record is the true one.
func recordPastInput(o revoke.Outcome, r Run) error {
	if r.InputLines == nil || r.InputLines.Has(o.Line) {
		return nil
	}
	shard := ""
	if r.Shard != "" {
		shard = " (shard " + r.Shard + ")"
	}
	return fmt.Errorf("%s holds an outcome for line %d, and no row of %s%s starts on line %d: the outcome file was edited or belongs to another input; refusing to resume (start a new outcome file)",
		r.Out, o.Line, r.Input, shard, o.Line)
}

// CheckTargets reports whether a resumed run must check each recorded
// line's target, not only its number: the file may hold records made from
// another input (--ignore-input-change, now or in any earlier resume), whose
// lines may now name other targets; such a line is sent, not skipped.
func (s State) CheckTargets(r Run) bool {
	if s.Empty {
		return false
	}
	return s.Meta == nil || s.Meta.CheckTargets || s.Meta.InputSHA256 == "" || s.Meta.InputSHA256 != r.InputSHA256
}

// RewritesMeta reports whether a resumed run writes the sidecar anew: when
// it insisted (--ignore-input-change), so that CheckTargets is remembered,
// and when the file was empty, so that a file left without its sidecar gets
// one.
func (s State) RewritesMeta(r Run) bool {
	return r.IgnoreInputChange || s.Empty
}

// noSidecar says why the sidecar cannot vouch for the file.
func noSidecar(s State, r Run) string {
	if s.MetaErr != nil {
		return s.MetaErr.Error()
	}
	return fmt.Sprintf("cannot check the input against the outcome file: its sidecar %s is missing", MetaPath(r.Out))
}

func sandboxText(sandbox bool) string {
	if sandbox {
		return "the --sandbox simulator"
	}
	return "a real instance"
}

func shardText(s string) string {
	if s == "" {
		return "the whole input"
	}
	return "shard " + s
}
