package cli

import (
	"context"
	"os"
	"regexp"
	"testing"
)

// TestEveryRunFlagIsInFlagsDoc keeps docs/FLAGS.md the whole reference:
// every flag that run -h lists is named there as `--name`.
func TestEveryRunFlagIsInFlagsDoc(t *testing.T) {
	t.Parallel()
	res := runMain(t, context.Background(), nil, "", "run", "-h")
	if res.code != ExitOK {
		t.Fatalf("run -h exited %d", res.code)
	}
	// The flag package prints each flag on a line of its own, indented by
	// two spaces: "  -rate float".
	names := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(res.stderr, -1)
	if len(names) < 20 {
		t.Fatalf("found %d flags in run -h, expected the whole list:\n%s", len(names), res.stderr)
	}
	doc, err := os.ReadFile("../../docs/FLAGS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range names {
		// `--rate N`, `--resume`, `--progress auto\|bar…`: the name, then
		// the end of the code span, a space or an escaped bar.
		named := regexp.MustCompile("`--" + regexp.QuoteMeta(m[1]) + "[` \\\\]")
		if !named.Match(doc) {
			t.Errorf("run -h lists --%s, and docs/FLAGS.md does not name it as `--%s`", m[1], m[1])
		}
	}
	if t.Failed() {
		t.Log("document the flag in docs/FLAGS.md (its table row: meaning and default)")
	}
}
