package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/report"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// runMeta is kept beside the outcome file (OUT.meta.json) so that --resume
// can tell whether INPUT is still the file the journal was started from.
type runMeta struct {
	Input       string `json:"input"`
	InputSHA256 string `json:"input_sha256"`
	Version     string `json:"version"`
	// Shard is the --shard the file was started for, "" for the whole input.
	Shard string `json:"shard,omitempty"`
	// Sandbox marks outcomes from the built-in simulator: they prove
	// nothing about a real instance and must never mix with its outcomes.
	Sandbox bool `json:"sandbox,omitempty"`
	// CheckTargets marks a file holding records made from another input
	// (--ignore-input-change): every later resume checks each recorded
	// line's target, not only its number.
	CheckTargets bool `json:"check_targets,omitempty"`
	// Provider is the --provider the file was started with: a Concur
	// outcome says nothing of an RFC 7009 endpoint, nor the reverse.
	Provider string `json:"provider,omitempty"`
}

func metaPath(out string) string { return out + ".meta.json" }

// maxMetaBytes bounds what is read of a sidecar: a real one is a few
// hundred bytes.
const maxMetaBytes = 1 << 20

// journal is the outcome file opened for this run, and what an earlier run
// already recorded in it.
type journal struct {
	writer   *report.Writer
	recorded int64 // rows that will not be sent again
	done     lineSet
	// targets holds, for each line recorded, a hash of the target recorded
	// there, when INPUT may not be the file the journal was started from
	// (--ignore-input-change): a line then counts as done only if it still
	// names the same target. nil when the input is the same file.
	targets map[int64]uint64
}

// skip reports whether a row already has a final outcome in the journal.
func (j *journal) skip(row input.Row) bool {
	if !j.done.has(row.Line) {
		return false
	}
	return j.targets == nil || j.targets[row.Line] == targetHash(row.Kind, row.Target(), row.ConsumerKey)
}

// targetHash identifies what an outcome row names, as written in the
// outcome file (a token only by its fingerprint).
func targetHash(kind input.Kind, target, consumerKey string) uint64 {
	h := fnv.New64a()
	for _, s := range []string{string(kind), target, consumerKey} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// openJournal creates the outcome file, or for --resume reads what it holds
// and opens it for appending. Nothing is sent before this succeeds. With
// --resume, inputLines holds the line of every row this run takes.
func openJournal(cfg Config, inputSum string, inputLines *lineSet) (*journal, error) {
	// The sidecar is written after the outcome file: check now that it can
	// be, so that a refusal leaves no outcome file without one.
	if err := report.ProbeAtomic(metaPath(cfg.Out)); err != nil {
		return nil, usagef("outcome file's sidecar: %v", err)
	}
	if cfg.Resume {
		// Lstat: a symbolic link is refused, not resumed through.
		if _, err := os.Lstat(cfg.Out); err == nil {
			return resumeJournal(cfg, inputSum, inputLines)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, &usageError{fmt.Errorf("outcome file: %w", err)}
		}
		// Nothing to resume: a scheduled job may always pass --resume.
	}
	w, err := report.Create(cfg.Out, cfg.Force)
	if err != nil {
		return nil, &usageError{err}
	}
	if err := writeMeta(cfg, inputSum, false); err != nil {
		w.Close()
		return nil, err
	}
	return &journal{writer: w}, nil
}

func resumeJournal(cfg Config, inputSum string, inputLines *lineSet) (*journal, error) {
	// Only an outcome file is continued; anything else (notes, the input,
	// another program's file) is left byte for byte as it is.
	if err := report.CheckJournal(cfg.Out); err != nil {
		return nil, usagef("--resume: %v", err)
	}
	// An outcome file with no outcome has nothing to confuse with another
	// input's rows; it is also what a kill between creating it and writing
	// its sidecar leaves, which must stay resumable.
	empty, err := journalEmpty(cfg.Out)
	if err != nil {
		return nil, &usageError{fmt.Errorf("resume: %w", err)}
	}
	meta, metaErr := readMeta(cfg.Out)
	if !cfg.IgnoreInputChange && !empty {
		if metaErr != nil {
			return nil, &usageError{fmt.Errorf("%w; if INPUT is surely the file this outcome file was started from, add --ignore-input-change", metaErr)}
		}
		if meta.InputSHA256 != inputSum {
			return nil, usagef("%s is not the input that %s was started from (%s, SHA-256 differs): refusing to resume; add --ignore-input-change to insist",
				cfg.Input, cfg.Out, meta.Input)
		}
	}
	// A simulator's "revoked" must never stand for a real revocation, nor
	// a real run's rows be skipped by a sandbox run. Without a sidecar a
	// sandbox run cannot tell, so it refuses.
	if !empty && ((metaErr == nil && meta.Sandbox != cfg.Sandbox) || (metaErr != nil && cfg.Sandbox)) {
		return nil, usagef("%s holds outcomes from %s, and this run is %s: refusing to mix them in one outcome file",
			cfg.Out, sandboxText(metaErr != nil || meta.Sandbox), sandboxText(cfg.Sandbox))
	}
	if !empty && metaErr == nil && meta.Provider != "" && meta.Provider != cfg.Provider {
		return nil, usagef("%s holds outcomes from --provider %s, and this run is --provider %s: refusing to mix them in one outcome file",
			cfg.Out, meta.Provider, cfg.Provider)
	}
	// Rows of another shard would be recorded here and this file's own
	// rows never skipped: each shard keeps its own outcome file.
	if metaErr == nil && meta.Shard != cfg.Shard.String() {
		return nil, usagef("%s was started for %s, not %s: each shard keeps its own outcome file; refusing to resume",
			cfg.Out, shardText(meta.Shard), shardText(cfg.Shard.String()))
	}
	// Records made from another input (--ignore-input-change, now or in any
	// earlier resume of this file) may sit on lines that now name other
	// targets: remember what each recorded line named, so that such a line
	// is sent, not skipped.
	checkTargets := !empty && (metaErr != nil || meta.CheckTargets || meta.InputSHA256 == "" || meta.InputSHA256 != inputSum)
	j := &journal{}
	if checkTargets {
		j.targets = map[int64]uint64{}
	}
	torn, err := report.ReadJournal(cfg.Out, func(o revoke.Outcome) error {
		// A record for a line on which no row of this run starts would
		// survive compaction, and the completed file would hold a row
		// the input does not have: the file was edited, or is another
		// input's. Nothing here can tell which record is the true one.
		if !inputLines.has(o.Line) {
			return usagef("%s holds an outcome for line %d, and no row of %s%s starts on line %d: the outcome file was edited or belongs to another input; refusing to resume (start a new outcome file)",
				cfg.Out, o.Line, cfg.Input, shardSuffix(cfg.Shard), o.Line)
		}
		if cfg.sendsAgain(o.Status) {
			j.done.remove(o.Line)
			return nil
		}
		j.done.add(o.Line)
		if j.targets != nil {
			j.targets[o.Line] = targetHash(o.Kind, o.Target, o.ConsumerKey)
		}
		return nil
	})
	if err != nil {
		if _, ok := errors.AsType[*usageError](err); ok {
			return nil, err
		}
		return nil, &usageError{fmt.Errorf("resume: %w", err)}
	}
	_ = torn // Append drops the torn line; its row is redone.
	j.recorded = j.done.len()
	if j.writer, err = report.Append(cfg.Out); err != nil {
		return nil, &usageError{fmt.Errorf("resume: %w", err)}
	}
	if cfg.IgnoreInputChange || empty {
		if err := writeMeta(cfg, inputSum, checkTargets); err != nil {
			j.writer.Close()
			return nil, err
		}
	}
	return j, nil
}

// sendsAgain reports whether a resumed run sends a row that an earlier run
// recorded with status s: a failed row with --retry-failed, and a dry run's
// row in a real run (a job file with resume: true, tried first with
// --dry-run, must still send every row). Every other recorded row is done.
func (cfg Config) sendsAgain(s revoke.Status) bool {
	return (s == revoke.Failed && cfg.RetryFailed) || (s == revoke.DryRun && !cfg.DryRun)
}

func writeMeta(cfg Config, inputSum string, checkTargets bool) error {
	b, err := json.MarshalIndent(runMeta{Input: cfg.Input, InputSHA256: inputSum, Version: Version(), Shard: cfg.Shard.String(),
		Sandbox: cfg.Sandbox, CheckTargets: checkTargets, Provider: cfg.Provider}, "", "  ")
	if err != nil {
		return err
	}
	if err := report.WriteAtomic(metaPath(cfg.Out), 0o600, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return &usageError{fmt.Errorf("write %s: %w", metaPath(cfg.Out), err)}
	}
	return nil
}

func readMeta(out string) (runMeta, error) {
	var m runMeta
	b, err := report.ReadOwn(metaPath(out), maxMetaBytes)
	if err != nil {
		return m, fmt.Errorf("cannot check the input against the outcome file: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read %s: %w", metaPath(out), err)
	}
	return m, nil
}

// lineSet is a set of input line numbers, one bit a line, so that resuming a
// ten-million-row run costs about a megabyte.
type lineSet struct {
	bits []uint64
	n    int64
}

func (s *lineSet) add(line int64) {
	if line < 0 {
		return
	}
	i := int(line / 64)
	for len(s.bits) <= i {
		s.bits = append(s.bits, 0)
	}
	if s.bits[i]&(1<<(line%64)) == 0 {
		s.bits[i] |= 1 << (line % 64)
		s.n++
	}
}

func (s *lineSet) remove(line int64) {
	if s.has(line) {
		s.bits[line/64] &^= 1 << (line % 64)
		s.n--
	}
}

func (s *lineSet) has(line int64) bool {
	if s == nil {
		return false
	}
	i := line / 64
	return line >= 0 && i < int64(len(s.bits)) && s.bits[i]&(1<<(line%64)) != 0
}

func (s *lineSet) len() int64 { return s.n }

// shardSuffix names the shard in a message about INPUT's rows.
func shardSuffix(s input.Shard) string {
	if s.Whole() {
		return ""
	}
	return " (shard " + s.String() + ")"
}

func sandboxText(sandbox bool) string {
	if sandbox {
		return "the --sandbox simulator"
	}
	return "a real instance"
}
