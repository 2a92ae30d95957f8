package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

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
	// Runs lists every run on the file, oldest first, each with who ran
	// it, against what, the input it read (name and hash: an input change
	// accepted with --ignore-input-change replaces Input and InputSHA256
	// above, never an earlier run's), and how it ended. Append-only.
	Runs []RunRecord `json:"runs"`
}

// RunRecord is what the sidecar (OUT.meta.json) and the summary record of one
// process run on an outcome file: who ran it, from where, against what, and
// how it ended. It never holds a secret: credentials appear only as
// fingerprints, and the command line never holds one.
type RunRecord struct {
	Identity
	Version string `json:"version"`
	// Input and InputSHA256 are the input this run read. InputChanged
	// marks a run that continued the file from another input, accepted
	// with --ignore-input-change; the earlier runs keep theirs.
	Input        string `json:"input"`
	InputSHA256  string `json:"input_sha256,omitempty"`
	InputChanged bool   `json:"input_changed,omitempty"`
	Shard        string `json:"shard,omitempty"`
	// NewFile marks a run that created the outcome file (the first, or
	// one with --force over it): a campaign starts there.
	NewFile     bool `json:"new_file,omitempty"`
	Resume      bool `json:"resume,omitempty"`
	RetryFailed bool `json:"retry_failed,omitempty"`
	DryRun      bool `json:"dry_run,omitempty"`

	Started time.Time `json:"started"`
	// Ended, ExitCode and the counts are set when the run ends; a run
	// killed outright has none.
	Ended    time.Time `json:"ended,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	// Requests counts this run's HTTP requests; Rows its outcomes by
	// status.
	Requests int64            `json:"requests"`
	Rows     map[string]int64 `json:"rows,omitempty"`
}

// MetaPath is the sidecar of the outcome file at out.
func MetaPath(out string) string { return out + ".meta.json" }

// maxMetaBytes bounds what is read of a sidecar: each run adds under a
// kilobyte, so a file resumed every night for fifty years stays under it.
const maxMetaBytes = 16 << 20

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

// Identity is who ran a run, from where, against what: never a secret, only
// fingerprints, and a command line that never holds one. The sidecar's run
// records and the summary both carry it.
type Identity struct {
	RunID    string `json:"run_id"`
	Operator string `json:"operator"` // the OS user
	Host     string `json:"host"`
	// Instance is the endpoint's host; Provider is --provider; Sandbox
	// marks the built-in simulator.
	Instance string `json:"instance"`
	Provider string `json:"provider"`
	Sandbox  bool   `json:"sandbox"`
	// AdminTokenFingerprint is the Concur admin token's fingerprint; for
	// RFC 7009, ClientID and ClientSecretFingerprint.
	AdminTokenFingerprint   string `json:"admin_token_fingerprint,omitempty"`
	ClientID                string `json:"client_id,omitempty"`
	ClientSecretFingerprint string `json:"client_secret_fingerprint,omitempty"`
	// CommandLine is the arguments after the program name.
	CommandLine []string `json:"command_line"`
}
