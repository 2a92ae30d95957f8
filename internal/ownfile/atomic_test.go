package ownfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteAtomic replaces a file whole and leaves no temporary file.
func TestWriteAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteAtomic(path, 0o600, func(w io.Writer) error { _, err := w.Write([]byte(content)); return err }); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Errorf("read back %q (%v), want %q", b, err, content)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want only the file", len(entries))
	}
}
