package cli

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/audit"
	"github.com/bulkrevoke/bulkrevoke/internal/concur"
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/rfc7009"
)

// newRunID is a random ID for this process run: 16 hex digits, enough that
// two runs never share one, short enough to read out on a call.
func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newRunRecord is what the sidecar and the summary say of this run before
// it sends anything: who runs it, from where, against what, with which
// credentials (by fingerprint only), and the command line (which never
// holds a secret: the admin token and the client secret only ever come
// from the environment or a file). Instance and InputSHA256 are filled in
// once known.
func newRunRecord(cfg Config, args []string, started time.Time) audit.Run {
	r := audit.Run{
		Identity: journal.Identity{
			RunID:       cfg.runID,
			Operator:    operator(),
			Provider:    cfg.Provider,
			Sandbox:     cfg.Sandbox,
			CommandLine: append([]string{"run"}, args...),
		},
		Version:     Version(),
		Input:       cfg.Input,
		Shard:       cfg.Shard.String(),
		Resume:      cfg.Resume,
		RetryFailed: cfg.RetryFailed,
		DryRun:      cfg.DryRun,
		Started:     started.UTC(),
	}
	r.Host, _ = os.Hostname()
	switch s := cfg.Settings.(type) {
	case *rfc7009.Settings:
		r.ClientID = s.ClientID
		r.ClientSecretFingerprint = input.Fingerprint(s.ClientSecret)
	case *concur.Settings:
		if !s.Sandbox {
			// The sandbox makes up a token of its own for its simulator.
			r.AdminTokenFingerprint = input.Fingerprint(s.AdminToken)
		}
	}
	return r
}

// operator is the OS user running the process: the account name, else
// $USER, else the numeric user ID (a container's user often has no name).
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// endRunRecord completes r with how the run ended.
func endRunRecord(r *audit.Run, ended time.Time, exit int, requests int64, rows map[revoke.Status]int64) {
	r.Ended = ended.UTC()
	r.ExitCode = &exit
	r.Requests = requests
	r.Rows = map[string]int64{}
	for s, n := range rows {
		r.Rows[string(s)] = n
	}
}
