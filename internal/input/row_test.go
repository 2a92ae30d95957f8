package input

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestFingerprint checks the shape the lookup recipe of docs/OUTCOMES.md relies on:
// "sha256:" and the first 16 hex digits of the SHA-256 of the bare token,
// which is what `printf %s "$TOKEN" | sha256sum | cut -c1-16` prints.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"a", "tok-1", "eyJhbGciOiJIUzI1NiJ9.e30.sig"} {
		sum := sha256.Sum256([]byte(tok))
		want := "sha256:" + hex.EncodeToString(sum[:])[:16]
		if got := Fingerprint(tok); got != want {
			t.Errorf("Fingerprint(%q) = %q, want %q", tok, got, want)
		}
		if !IsFingerprint(Fingerprint(tok)) {
			t.Errorf("IsFingerprint refuses Fingerprint(%q)", tok)
		}
	}
	if Fingerprint("") != "" {
		t.Error("the empty secret has a fingerprint")
	}
	for _, s := range []string{
		"", "sha256:", "sha256:0123456789ab", "sha256:0123456789abcdef0", "sha256:0123456789ABCDEF",
		"sha256:0123456789abcdeg", "md5:0123456789abcdef", "tok-0123456789abcdef", " sha256:0123456789abcdef",
	} {
		if IsFingerprint(s) {
			t.Errorf("IsFingerprint(%q) = true", s)
		}
	}
}
