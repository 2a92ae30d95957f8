package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// Meta is the outcome file's sidecar (OUT.meta.json): what the file was
// started from, so that --resume can tell whether INPUT, the provider, the
// shard and the sandbox are still those of the outcomes it holds.
type Meta struct {
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

// MetaPath is the sidecar of the outcome file at out.
func MetaPath(out string) string { return out + ".meta.json" }

// maxMetaBytes bounds what is read of a sidecar: a real one is a few
// hundred bytes.
const maxMetaBytes = 1 << 20

// ReadMeta reads the sidecar of the outcome file at out: nil and no error
// when there is none, an error when one exists but cannot be read or parsed.
func ReadMeta(out string) (*Meta, error) {
	b, err := ownfile.Read(MetaPath(out), maxMetaBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot check the input against the outcome file: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", MetaPath(out), err)
	}
	return &m, nil
}

// WriteMeta replaces the sidecar of the outcome file at out with m,
// atomically and with mode 0600.
func WriteMeta(out string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := ownfile.WriteAtomic(MetaPath(out), 0o600, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return fmt.Errorf("write %s: %w", MetaPath(out), err)
	}
	return nil
}
