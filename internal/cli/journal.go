package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// ledger is the outcome file opened for this run, and what an earlier run
// already recorded in it.
type ledger struct {
	writer *journal.Writer
	// meta is the sidecar as this run wrote it, its own run last.
	meta     journal.Meta
	recorded int64 // rows that will not be sent again
	done     *journal.Done
}

// skip reports whether a row already has a final outcome in the journal.
func (j *ledger) skip(row input.Row) bool {
	return j.done != nil && j.done.Has(row)
}

// openJournal creates the outcome file, or for --resume reads what it holds
// and opens it for appending. Nothing is sent before this succeeds. With
// --resume, inputLines holds the line of every row this run takes. run is
// this run's record, added to the sidecar's list.
func openJournal(cfg Config, inputSum string, inputLines *journal.LineSet, run journal.RunRecord) (*ledger, error) {
	// The sidecar is written after the outcome file: check now that it can
	// be, so that a refusal leaves no outcome file without one.
	if err := ownfile.ProbeAtomic(journal.MetaPath(cfg.Out)); err != nil {
		return nil, usagef("outcome file's sidecar: %v", err)
	}
	if err := journal.CheckHistory(cfg.Out); err != nil {
		return nil, usagef("outcome file's history (%s): %v", journal.HistoryPath(cfg.Out), err)
	}
	if cfg.Resume {
		// Lstat: a symbolic link is refused, not resumed through.
		if _, err := os.Lstat(cfg.Out); err == nil {
			return resumeJournal(cfg, inputSum, inputLines, run)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, &usageError{fmt.Errorf("outcome file: %w", err)}
		}
		// Nothing to resume: a scheduled job may always pass --resume.
	}
	// --force over an outcome file of ours: its records go to the history
	// file and its runs stay in the sidecar's list, so that replacing the
	// file erases nothing of what was recorded.
	var earlier []journal.RunRecord
	if cfg.Force && journal.Check(cfg.Out) == nil {
		if err := journal.Archive(cfg.Out); err != nil {
			return nil, &usageError{fmt.Errorf("--force: keep the outcomes of the file it replaces: %w", err)}
		}
		if old, err := journal.ReadMeta(cfg.Out); err == nil && old != nil {
			earlier = old.Runs
		}
	}
	w, err := journal.Create(cfg.Out, cfg.Force)
	if err != nil {
		return nil, &usageError{err}
	}
	meta := newMeta(cfg, inputSum, false)
	run.NewFile = true
	meta.Runs = append(earlier, run)
	if err := writeMeta(cfg, meta); err != nil {
		w.Close()
		return nil, err
	}
	return &ledger{writer: w, meta: meta}, nil
}

func resumeJournal(cfg Config, inputSum string, inputLines *journal.LineSet, record journal.RunRecord) (*ledger, error) {
	state, err := journal.Inspect(cfg.Out)
	if err != nil {
		return nil, &usageError{err}
	}
	run := journal.Run{Out: cfg.Out, Input: cfg.Input, InputSHA256: inputSum, IgnoreInputChange: cfg.IgnoreInputChange,
		Sandbox: cfg.Sandbox, Provider: cfg.Provider, Shard: cfg.Shard.String(), InputLines: inputLines,
		ConsumerKeys: cfg.Rows.ConsumerKeys}
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
	// Every run is added to the sidecar's list. The file's input changes
	// only when the resume rules rewrite the sidecar (an input change
	// accepted, nothing recorded yet, no sidecar); the earlier runs keep
	// the name and hash they read.
	old := readOldMeta(cfg.Out)
	if old != nil {
		j.meta = *old
	}
	if state.RewritesMeta(run) {
		j.meta = newMeta(cfg, inputSum, checkTargets)
		if old != nil {
			j.meta.Runs = old.Runs
		}
		record.InputChanged = !state.Empty && (old == nil || old.InputSHA256 != inputSum)
	}
	j.meta.Runs = append(j.meta.Runs, record)
	if err := writeMeta(cfg, j.meta); err != nil {
		j.writer.Close()
		return nil, err
	}
	return j, nil
}

// readOldMeta is the sidecar an earlier run left, nil when there is none or
// it cannot be read (the resume rules have judged that already).
func readOldMeta(out string) *journal.Meta {
	m, err := journal.ReadMeta(out)
	if err != nil {
		return nil
	}
	return m
}

// endRun records in the sidecar how this run ended: its list's last entry.
func (j *ledger) endRun(cfg Config, ended time.Time, exit int, requests int64, rows map[revoke.Status]int64) error {
	if len(j.meta.Runs) == 0 {
		return nil
	}
	endRunRecord(&j.meta.Runs[len(j.meta.Runs)-1], ended, exit, requests, rows)
	return writeMeta(cfg, j.meta)
}

// sendsAgain reports whether a resumed run sends a row that an earlier run
// recorded with status s: a failed row with --retry-failed, and a dry run's
// row in a real run (a job file with resume: true, tried first with
// --dry-run, must still send every row). Every other recorded row is done.
func (cfg Config) sendsAgain(s revoke.Status) bool {
	return (s == revoke.Failed && cfg.RetryFailed) || (s == revoke.DryRun && !cfg.DryRun)
}

// newMeta is the sidecar's description of the file as this run starts it
// or continues it from another input.
func newMeta(cfg Config, inputSum string, checkTargets bool) journal.Meta {
	return journal.Meta{Input: cfg.Input, InputSHA256: inputSum, Version: Version(), Shard: cfg.Shard.String(),
		Sandbox: cfg.Sandbox, CheckTargets: checkTargets, Provider: cfg.Provider}
}

// writeMeta writes the outcome file's sidecar.
func writeMeta(cfg Config, m journal.Meta) error {
	if err := journal.WriteMeta(cfg.Out, m); err != nil {
		return &usageError{err}
	}
	return nil
}
