// Package docs holds the reference pages; its test keeps their links true.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`^#{1,6} +(.+?) *$`)
	fenceRE   = regexp.MustCompile("^ *```")
)

// TestRelativeLinksResolve checks every relative link in README.md,
// CONTRIBUTING.md and docs/*.md: the file it names exists, and so does the
// heading its #anchor names (GitHub's anchor for it).
func TestRelativeLinksResolve(t *testing.T) {
	t.Parallel()
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md", "../CONTRIBUTING.md")
	anchors := map[string]map[string]bool{} // cleaned path → anchors
	anchorsOf := func(path string) (map[string]bool, error) {
		path = filepath.Clean(path)
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := map[string]bool{}
		for _, line := range lines(string(text)) {
			if m := headingRE.FindStringSubmatch(line); m != nil {
				a[anchor(m[1])] = true
			}
		}
		anchors[path] = a
		return a, nil
	}
	checked := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lines(string(text)) {
			for _, m := range linkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, frag, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
				}
				checked++
				info, err := os.Stat(path)
				if err != nil {
					t.Errorf("%s: link %s: %v", page, target, err)
					continue
				}
				if frag == "" || info.IsDir() {
					continue
				}
				a, err := anchorsOf(path)
				if err != nil {
					t.Errorf("%s: link %s: %v", page, target, err)
				} else if !a[frag] {
					t.Errorf("%s: link %s: %s has no heading with the anchor #%s", page, target, path, frag)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d relative links: the pages lost their links, or this test lost its way", checked)
	}
}

// lines returns the lines of a Markdown text outside fenced code blocks,
// where a "# comment" is no heading and a [x](y) no link.
func lines(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if fenceRE.MatchString(line) {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, line)
		}
	}
	return out
}

// anchor is GitHub's anchor for a heading: lower case, letters, digits,
// spaces, hyphens and underscores kept, other characters dropped, each
// space a hyphen. Code spans keep their text.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestAnchor(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"A 403: about one row, or about the administrator":      "a-403-about-one-row-or-about-the-administrator",
		"Try it: two commands on a fresh clone":                 "try-it-two-commands-on-a-fresh-clone",
		"RFC 7009 endpoints: Okta, Auth0, Keycloak, Salesforce": "rfc-7009-endpoints-okta-auth0-keycloak-salesforce",
		"`--resume` refuses":                                    "--resume-refuses",
	} {
		if got := anchor(heading); got != want {
			t.Errorf("anchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
