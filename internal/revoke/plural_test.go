package revoke_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// TestUnreachablePlural: "1 attempt", never "1 attempts in a row".
func TestUnreachablePlural(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "server: 1 attempt, and", 3: "server: 3 attempts in a row, and"} {
		if got := (&revoke.UnreachableError{Attempts: n, Err: errors.New("refused")}).Error(); !strings.Contains(got, want) {
			t.Errorf("%d attempts: %q lacks %q", n, got, want)
		}
	}
}
