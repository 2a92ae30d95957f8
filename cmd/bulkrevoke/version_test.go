package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlainGoBuildReportsTheCommit builds the binary the README's way, go
// build with no -ldflags, and runs "bulkrevoke version": it must name the
// commit, not "dev".
//
// Go records VCS information only when the module sits in a checkout whose
// .git is a directory; a git worktree (.git is a file) gets none. So the
// test builds a fresh clone of the committed HEAD: what CI builds. GOFLAGS
// is set to -buildvcs=auto, go build's own default, in case the machine's
// go env turns stamping off.
func TestPlainGoBuildReportsTheCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	repo := strings.TrimSpace(string(root))
	head, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	rev := strings.TrimSpace(string(head))
	src := filepath.Join(t.TempDir(), "src")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-checkout", repo, src).CombinedOutput(); err != nil {
		t.Skipf("cannot clone the checkout: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", src, "checkout", "--quiet", rev).CombinedOutput(); err != nil {
		t.Fatalf("checkout %s: %v\n%s", rev, err, out)
	}
	bin := filepath.Join(t.TempDir(), "bulkrevoke")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bulkrevoke")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("bulkrevoke version: %v", err)
	}
	got := strings.TrimSpace(string(out))
	if !strings.HasPrefix(got, "bulkrevoke ") || strings.Contains(got, "dev") || !strings.Contains(got, rev[:12]) {
		t.Errorf("version %q: want the commit %s, not dev", got, rev[:12])
	}
	t.Logf("%s (HEAD %s)", got, rev)
}
