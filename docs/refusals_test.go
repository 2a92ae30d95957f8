package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	stringLitRE = regexp.MustCompile("\"(?:[^\"\\\\\\n]|\\\\.)*\"|`[^`]*`")
	verbRE      = regexp.MustCompile(`%[-+# 0-9.*]*[a-zA-Z]`)
	codeSpanRE  = regexp.MustCompile("`([^`]+)`")
)

// TestRefusalMessagesAreThePrograms keeps REFUSALS.md keyed by the text the
// program prints: every message in its tables is made of pieces of the
// string literals of the program's own code (format verbs, shown as …,
// aside). A reworded message fails here until the table follows it.
func TestRefusalMessagesAreThePrograms(t *testing.T) {
	t.Parallel()
	var pieces []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "interop" || d.Name() == "bench" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, lit := range stringLitRE.FindAllString(string(src), -1) {
			s, err := strconv.Unquote(lit)
			if err != nil {
				continue
			}
			for _, p := range verbRE.Split(s, -1) {
				if p = strings.TrimSpace(p); len(p) >= 10 {
					pieces = append(pieces, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Printed by Go's flag package, and the environment's "$NAME: " prefix,
	// built from the flag's name.
	pieces = append(pieces, "invalid value %q for flag -%s: %v", "$BULKREVOKE_")
	// inCode: the fragment is part of one literal, or holds a long one
	// whole (the doc fills in a flag's name where the code has %s).
	inCode := func(frag string) bool {
		for _, p := range pieces {
			if strings.Contains(p, frag) || strings.Contains(frag, p) {
				return true
			}
		}
		return false
	}
	doc, err := os.ReadFile("REFUSALS.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range lines(string(doc)) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		rows++
		cell, _, _ := strings.Cut(line[1:], " | ")
		checked := 0
		for _, span := range codeSpanRE.FindAllStringSubmatch(cell, -1) {
			for _, frag := range strings.Split(span[1], "…") {
				frag = strings.Trim(frag, " :;,.'")
				if len(frag) < 12 {
					continue
				}
				checked++
				if !inCode(frag) {
					t.Errorf("REFUSALS.md: %q is in no message of the program", frag)
				}
			}
		}
		if checked == 0 {
			t.Logf("REFUSALS.md: row %q has no fragment long enough to check", cell)
		}
	}
	if rows < 40 {
		t.Errorf("REFUSALS.md has %d message rows; it lost its tables", rows)
	}
}

// TestArchitectureNamesRealTests keeps the invariants table of
// ARCHITECTURE.md true: every test it names is a test of the repository.
func TestArchitectureNamesRealTests(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]*)\(`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]*)`").FindAllStringSubmatch(string(doc), -1)
	if len(named) < 30 {
		t.Fatalf("ARCHITECTURE.md names %d tests; it lost its invariants table", len(named))
	}
	for _, m := range named {
		if !defined[m[1]] {
			t.Errorf("ARCHITECTURE.md names %s, and no test of the repository has that name", m[1])
		}
	}
}
