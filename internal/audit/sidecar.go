package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// Run is what the sidecar and the summary record of one process run on an
// outcome file (journal.RunRecord).
type Run = journal.RunRecord

// Sidecar is the part of OUT.meta.json that the report reads.
type Sidecar struct {
	Input       string `json:"input"`
	InputSHA256 string `json:"input_sha256"`
	Version     string `json:"version"`
	Shard       string `json:"shard,omitempty"`
	Sandbox     bool   `json:"sandbox,omitempty"`
	Provider    string `json:"provider,omitempty"`
	Runs        []Run  `json:"runs,omitempty"`
}

// maxSidecarBytes bounds what is read of a sidecar. A run adds well under
// a kilobyte; a file resumed ten thousand times stays under it.
const maxSidecarBytes = 16 << 20

// SidecarPath is the sidecar of the outcome file at out.
func SidecarPath(out string) string { return out + ".meta.json" }

// ReadSidecar reads the sidecar of the outcome file at out; nil when there
// is none.
func ReadSidecar(out string) (*Sidecar, error) {
	b, err := ownfile.Read(SidecarPath(out), maxSidecarBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sidecar of %s: %w", out, err)
	}
	var s Sidecar
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", SidecarPath(out), err)
	}
	return &s, nil
}

func iterPull[T any](seq iter.Seq[T]) (func() (T, bool), func()) { return iter.Pull(seq) }

// checkPaths refuses, before anything is read, outputs that would land on
// an outcome file, the input, a sidecar or each other, or on a file that
// exists without --force (and a symbolic link or non-regular file even
// with it), and outputs whose directory takes no new file.
func checkPaths(opt Options) error {
	type named struct{ flag, path string }
	var reads []named
	seen := map[string]bool{}
	for _, f := range opt.Files {
		abs, _ := filepath.Abs(f)
		if seen[abs] {
			return usagef("outcome file %s is named twice", f)
		}
		seen[abs] = true
		reads = append(reads, named{"outcome file", f}, named{"sidecar", SidecarPath(f)})
	}
	if opt.Input != "" {
		reads = append(reads, named{"--input", opt.Input})
	}
	outs := []named{{"--out", opt.Out}, {"--unrevoked", opt.Unrevoked}, {"--summary", opt.Summary}, {"--html", opt.HTML}}
	var written []named
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		for _, other := range append(reads, written...) {
			if samePath(o.path, other.path) {
				return usagef("%s %s is also the %s: refusing to write over it", o.flag, o.path, other.flag)
			}
		}
		if _, err := os.Lstat(o.path); err == nil && !opt.Force {
			return usagef("%s %s already exists: add --force to replace it", o.flag, o.path)
		}
		if err := ownfile.ProbeAtomic(o.path); err != nil {
			return usagef("%s %s: %v", o.flag, o.path, err)
		}
		written = append(written, o)
	}
	if opt.Out != "" {
		if _, err := journal.FormatOf(opt.Out); err != nil {
			return usagef("--out: %v", err)
		}
	}
	if opt.Unrevoked != "" {
		in, _ := input.FormatFromPath(opt.Input)
		if un, ok := input.FormatFromPath(opt.Unrevoked); !ok || un != in {
			return usagef("--unrevoked %s: the rows are copied in the input's format (%s): give it the input's extension", opt.Unrevoked, in)
		}
	}
	return nil
}

// samePath reports whether a and b name one file: the same name, or the
// same file under two names.
func samePath(a, b string) bool {
	aa, _ := filepath.Abs(a)
	bb, _ := filepath.Abs(b)
	if aa == bb {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// CampaignStart is when the campaign on an outcome file began: the start
// of the last run that created the file, else of its first recorded run.
func CampaignStart(runs []Run) time.Time {
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].NewFile {
			return runs[i].Started
		}
	}
	if len(runs) > 0 {
		return runs[0].Started
	}
	return time.Time{}
}
