package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
)

// TestTrustACorporateCA follows the advice of the stop message in a real
// process: an instance behind a CA the system does not trust stops the run
// (exit 3, nothing recorded); SSL_CERT_FILE naming that CA lets --resume
// finish it.
func TestTrustACorporateCA(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA()
	cert := ca.Loopback(t)
	s := sim.New(sim.Config{AdminToken: adminToken})
	srv := testutil.NewTLSServer(t, &cert, s)

	dir := t.TempDir()
	in, out, caFile := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv"), filepath.Join(dir, "corporate-ca.pem")
	keys := crashInput(t, s, in, 30, 5)
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--base-url", srv.URL, "--rate", "0", "--concurrency", "4", "--out", out}
	// The system's CAs only: the test CA is unknown to them.
	first := startChildEnv(t, nil, append(args, in)...)
	if code := first.wait(t); code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", code, first.stderr.String())
	}
	for _, want := range []string{"TLS certificate", "SSL_CERT_FILE", "--resume"} {
		if !strings.Contains(first.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, first.stderr.String())
		}
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("%d requests reached the server through an untrusted certificate", st.Requests)
	}
	if n := srv.Handshakes(); n > 4 {
		t.Errorf("%d TLS handshakes, want at most the 4 requests in flight", n)
	}

	second := startChildEnv(t, []string{"SSL_CERT_FILE=" + caFile}, append(append(args, "--resume"), in)...)
	if code := second.wait(t); code != 0 {
		t.Fatalf("resume with SSL_CERT_FILE: exit %d:\n%s", code, second.stderr.String())
	}
	got := map[int64]revoke.Status{}
	if _, err := journal.Read(out, func(o revoke.Outcome) error { got[o.Line] = o.Status; return nil }); err != nil {
		t.Fatal(err)
	}
	for line, key := range keys {
		if st := got[line]; st != revoke.Revoked && st != revoke.Duplicate {
			t.Errorf("line %d (%s): %q after the resume", line, key, st)
		}
		if !revokedOn(s, key) {
			t.Errorf("line %d: %s still live on the server", line, key)
		}
	}
}

// startChildEnv is startChild with more environment variables.
func startChildEnv(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe, append([]string{"run", "--log-format", "json"}, args...)...)}
	c.cmd.Env = append(append(os.Environ(), asChild+"=1", cli.EnvAdminToken+"="+adminToken), env...)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}
