package cli

import (
	"crypto/rand"
	"encoding/hex"
)

// newRunID is a random ID for this process run: 16 hex digits, enough that
// two runs never share one, short enough to read out on a call.
func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
