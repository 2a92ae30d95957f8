package testutil

import (
	"errors"
	"fmt"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records failures instead of reporting
// them, so that the helpers' own failures can be asserted.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("fatal") }

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = true
	runtime.Goexit()
}

// run calls f with a fresh recorder on its own goroutine (Fatal ends it,
// as it ends a test) and returns the recorder.
func run(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestLockedBuffer(t *testing.T) {
	t.Parallel()
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab\n"))
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "ab\n"); got != 800 || len(b.String()) != 2400 {
		t.Errorf("%d whole writes in %d bytes, want 800 in 2400", got, len(b.String()))
	}
	snap := b.Bytes()
	snap[0] = 'X'
	if b.String()[0] != 'a' {
		t.Error("Bytes returned the buffer itself, not a copy")
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.prom")
	os.WriteFile(good, []byte("# TYPE x_total counter\nx_total{status=\"revoked\"} 3\n"), 0o600)
	r := run(t, func(tb testing.TB) {
		mfs := ParseMetrics(tb, good)
		if v := mfs["x_total"].GetMetric()[0].GetCounter().GetValue(); v != 3 {
			t.Errorf("x_total = %v, want 3", v)
		}
	})
	if r.fatal || len(r.errors) > 0 {
		t.Errorf("a valid file failed: %v", r.errors)
	}
	bad := filepath.Join(dir, "bad.prom")
	os.WriteFile(bad, []byte("x_total{status=\"revoked\" 3\n"), 0o600)
	for _, path := range []string{bad, filepath.Join(dir, "missing.prom")} {
		if r := run(t, func(tb testing.TB) { ParseMetrics(tb, path) }); !r.fatal {
			t.Errorf("%s: no failure", filepath.Base(path))
		}
	}
}

func TestAssertNoSecret(t *testing.T) {
	t.Parallel()
	const secret = "s3cr&t=+/ x"
	for _, tc := range []struct {
		err  error
		fail bool
	}{
		{nil, false},
		{errors.New("server said no"), false},
		{errors.New("token " + secret + " refused"), true},
		{errors.New("GET /?token=s3cr%26t%3D%2B%2F+x"), true}, // query-escaped
		{errors.New("GET /s3cr&t=+%2F%20x"), true},            // path-escaped
	} {
		r := run(t, func(tb testing.TB) { AssertNoSecret(tb, tc.err, "other", secret) })
		if failed := len(r.errors) > 0; failed != tc.fail {
			t.Errorf("%v: failed %v, want %v", tc.err, failed, tc.fail)
		}
	}
}

// TestOnlyTestsImportTestutil holds the package comment's promise: no
// non-test file of the module imports this package.
func TestOnlyTestsImportTestutil(t *testing.T) {
	t.Parallel()
	AssertOnlyTestsImport(t, filepath.Join("..", ".."), "github.com/bulkrevoke/bulkrevoke/internal/testutil")
}

// TestAssertOnlyTestsImportCatches: a non-test file importing the package
// fails the check, a test file importing it does not.
func TestAssertOnlyTestsImportCatches(t *testing.T) {
	t.Parallel()
	const pkg = "example.com/testonly"
	root := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		write(fmt.Sprintf("f%d.go", i), "package p\n")
	}
	write("uses_test.go", "package p\nimport _ \""+pkg+"\"\n")
	if r := run(t, func(tb testing.TB) { AssertOnlyTestsImport(tb, root, pkg) }); len(r.errors) > 0 || r.fatal {
		t.Errorf("a test file's import was reported: %q", r.errors)
	}
	write("uses.go", "package p\nimport _ \""+pkg+"\"\n")
	if r := run(t, func(tb testing.TB) { AssertOnlyTestsImport(tb, root, pkg) }); len(r.errors) != 1 || !strings.Contains(r.errors[0], "imports") {
		t.Errorf("a non-test file's import: errors %q, want one", r.errors)
	}
}

func TestSecretPiece(t *testing.T) {
	t.Parallel()
	secret := LongSecret(1, 1024)
	if len(secret) != 1024 || LongSecret(1, 1024) != secret || LongSecret(2, 1024) == secret {
		t.Fatal("LongSecret is not a deterministic secret of the length asked")
	}
	secret = "a/b&c" + secret
	for _, tc := range []struct {
		name, text string
		found      bool
	}{
		{"none", "server said no", false},
		{"a run one shorter", "x" + secret[100:123] + "y", false},
		{"a run of the size", "x" + secret[100:124] + "y", true},
		{"query-escaped", url.QueryEscape(secret)[:30], true},
		{"HTML-escaped", html.EscapeString(secret)[:30], true},
		{"JSON with an escaped solidus", strings.ReplaceAll(secret, "/", `\/`)[:30], true},
	} {
		if got := SecretPiece(tc.text, 24, "other-secret-that-is-long-enough", secret); (got != "") != tc.found {
			t.Errorf("%s: SecretPiece = %q, want found %v", tc.name, got, tc.found)
		}
	}
}
