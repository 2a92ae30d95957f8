package cli

import (
	"os"
	"testing"
	"time"
)

// TestMain lowers the floor of --progress-interval so that the progress
// tests see many intervals in runs of a fraction of a second. The floor
// itself is tested through checkBoundsWith (TestNumericBounds).
func TestMain(m *testing.M) {
	minProgressInterval = 5 * time.Millisecond
	os.Exit(m.Run())
}
