package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// ledger is the outcome file opened for this run, and what an earlier run
// already recorded in it.
type ledger struct {
	writer   *journal.Writer
	recorded int64 // rows that will not be sent again
	done     *journal.Done
}

// skip reports whether a row already has a final outcome in the journal.
func (j *ledger) skip(row input.Row) bool {
	return j.done != nil && j.done.Has(row)
}

// openJournal creates the outcome file, or for --resume reads what it holds
// and opens it for appending. Nothing is sent before this succeeds. With
// --resume, inputLines holds the line of every row this run takes.
func openJournal(cfg Config, inputSum string, inputLines *journal.LineSet) (*ledger, error) {
	// The sidecar is written after the outcome file: check now that it can
	// be, so that a refusal leaves no outcome file without one.
	if err := ownfile.ProbeAtomic(journal.MetaPath(cfg.Out)); err != nil {
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
	w, err := journal.Create(cfg.Out, cfg.Force)
	if err != nil {
		return nil, &usageError{err}
	}
	if err := writeMeta(cfg, inputSum, false); err != nil {
		w.Close()
		return nil, err
	}
	return &ledger{writer: w}, nil
}

func resumeJournal(cfg Config, inputSum string, inputLines *journal.LineSet) (*ledger, error) {
	state, err := journal.Inspect(cfg.Out)
	if err != nil {
		return nil, &usageError{err}
	}
	run := journal.Run{Out: cfg.Out, Input: cfg.Input, InputSHA256: inputSum, IgnoreInputChange: cfg.IgnoreInputChange,
		Sandbox: cfg.Sandbox, Provider: cfg.Provider, Shard: cfg.Shard.String(), InputLines: inputLines}
	if err := journal.CheckResume(state, run); err != nil {
		return nil, &usageError{err}
	}
	checkTargets := state.CheckTargets(run)
	done, err := journal.ReadDone(cfg.Out, state, run, cfg.sendsAgain)
	if _, refused := errors.AsType[*journal.Refusal](err); refused {
		return nil, &usageError{err}
	}
	if err != nil {
		return nil, &usageError{fmt.Errorf("resume: %w", err)}
	}
	j := &ledger{done: done, recorded: done.Len()}
	if j.writer, err = journal.Append(cfg.Out); err != nil {
		return nil, &usageError{fmt.Errorf("resume: %w", err)}
	}
	if state.RewritesMeta(run) {
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

// writeMeta writes the outcome file's sidecar for this run.
func writeMeta(cfg Config, inputSum string, checkTargets bool) error {
	m := journal.Meta{Input: cfg.Input, InputSHA256: inputSum, Version: Version(), Shard: cfg.Shard.String(),
		Sandbox: cfg.Sandbox, CheckTargets: checkTargets, Provider: cfg.Provider}
	if err := journal.WriteMeta(cfg.Out, m); err != nil {
		return &usageError{err}
	}
	return nil
}
