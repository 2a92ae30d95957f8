package cli

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// namedPath is a file the run reads or writes, with the flag that names it.
type namedPath struct {
	flag, path string
	written    bool
}

// runPaths lists every file the run touches by name: the outputs, and the
// files it only reads (an output over one of those would destroy it).
func runPaths(cfg Config, raw flagValues) []namedPath {
	paths := []namedPath{
		{"--out", cfg.Out, true},
		{"--out's sidecar", journal.MetaPath(cfg.Out), true},
		{"--out's lock file", journal.LockPath(cfg.Out), true},
		{"--out's history file", journal.HistoryPath(cfg.Out), true},
		{"--summary", cfg.SummaryFile, true},
		{"--metrics-file", cfg.MetricsFile, true},
		{"--job", raw.job, false},
		{"--consumer-keys-file", raw.consumerKeysFile, false},
	}
	paths = append(paths, secretFiles(raw)...)
	if cfg.Input != "-" {
		paths = append(paths, namedPath{"INPUT (the input file)", cfg.Input, false})
	}
	kept := paths[:0]
	for _, p := range paths {
		if p.path != "" {
			kept = append(kept, p)
		}
	}
	return kept
}

// checkDistinct refuses, before anything is sent or written, a run whose
// outputs are the same file as one another or as a file it reads: the same
// cleaned absolute path; where both exist, the same device and inode (a
// hard link, a symbolic link, a bind mount); and where either does not exist
// yet, the same name in the same directory, the directory compared by device
// and inode (one path may reach it through a linked directory). The error
// names the flags, and never a secret file's path.
func checkDistinct(paths []namedPath) error {
	type id struct {
		abs, base string
		fi, dir   fs.FileInfo
	}
	ids := make([]id, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p.path)
		if err != nil {
			return usagef("%s: %v", p.flag, err)
		}
		ids[i].abs = filepath.Clean(abs)
		ids[i].base = filepath.Base(ids[i].abs)
		if fi, err := os.Stat(p.path); err == nil {
			ids[i].fi = fi
		}
		if dir, err := os.Stat(filepath.Dir(ids[i].abs)); err == nil {
			ids[i].dir = dir
		}
	}
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			if !paths[i].written && !paths[j].written {
				continue
			}
			a, b := ids[i], ids[j]
			same := a.abs == b.abs ||
				(a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi)) ||
				(a.base == b.base && a.dir != nil && b.dir != nil && os.SameFile(a.dir, b.dir))
			if same {
				return usagef("%s and %s are the same file: every file the run writes must be a file of its own, and none a file it reads", paths[i].flag, paths[j].flag)
			}
		}
	}
	return nil
}

// probeOutputs checks, before anything is sent, that the files written at
// the end of the run can be written: a summary or metrics path that cannot
// is refused now (exit 2), not after the whole list was sent.
func probeOutputs(cfg Config) error {
	for _, p := range []struct {
		flag, path string
		ours       func([]byte) bool
	}{{"--summary", cfg.SummaryFile, isSummary}, {"--metrics-file", cfg.MetricsFile, isMetrics}} {
		if p.path == "" {
			continue
		}
		if err := checkOurs(p.flag, p.path, p.ours); err != nil {
			return err
		}
		if err := ownfile.ProbeAtomic(p.path); err != nil {
			return usagef("%s %s: %v", p.flag, p.path, err)
		}
	}
	return nil
}

// maxOwnOutput bounds what checkOurs reads of an existing summary or
// metrics file: either is a few kilobytes.
const maxOwnOutput = 1 << 20

// checkOurs refuses to replace an existing, non-empty file at path that is
// not one this job writes (ours tells): a --summary or --metrics-file
// pointed at yesterday's outcome file, a report or a config file must not
// destroy it. A missing or empty file is fine.
func checkOurs(flag, path string, ours func([]byte) bool) error {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil // missing, or refused by ProbeAtomic for what it is
	}
	b, err := ownfile.Read(path, maxOwnOutput)
	if err == nil && ours(b) {
		return nil
	}
	return usagef("%s %s: the file exists and is not one this job wrote: refusing to replace it; remove it or choose another path", flag, path)
}

// isSummary reports whether b is a summary this job wrote: a JSON object
// with an exit_code.
func isSummary(b []byte) bool {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return false
	}
	_, ok := doc["exit_code"]
	return ok
}

// isMetrics reports whether b is a metrics file this job wrote: Prometheus
// text whose first line is about one of our series.
func isMetrics(b []byte) bool {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	for _, prefix := range []string{"# HELP bulkrevoke_", "# TYPE bulkrevoke_", "bulkrevoke_"} {
		if bytes.HasPrefix(first, []byte(prefix)) {
			return true
		}
	}
	return false
}

// lockRun takes the outcome file's lock for the whole run, its end-of-run
// rewrite and final documents included. A second run on the same file is
// refused at once, before it writes or sends anything.
func lockRun(cfg Config) (release func(), err error) {
	release, err = journal.Lock(cfg.Out)
	if err != nil {
		return nil, &usageError{err}
	}
	return release, nil
}
