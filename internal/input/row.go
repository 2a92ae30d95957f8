// Package input streams revocation targets out of CSV and JSONL files, one
// validated Row at a time, each carrying the line of the file it started on.
package input

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Kind says what a row revokes.
type Kind string

const (
	// KindToken revokes one access token.
	KindToken Kind = "token"
	// KindUser revokes every token of one user for one application.
	KindUser Kind = "user"
)

// Format is the encoding of an input file.
type Format string

const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// Row is one revocation target read from the input.
//
// A row that failed validation has Invalid set to the reason and must not be
// sent; its other fields hold whatever could be read, for the outcome file.
type Row struct {
	// Line is the line of the input file on which the record starts
	// (CSV header = line 1, first JSONL line = 1).
	Line int64
	Kind Kind
	// Token is the secret being revoked. It must never be logged or written:
	// use Fingerprint.
	Token         string
	User          string
	ConsumerKey   string
	TokenTypeHint string
	Invalid       string
}

// Key identifies the row's target for de-duplication and sharding: two rows
// with the same Key revoke the same thing. It is a hash, so a set of keys
// never holds a secret and costs 16 bytes a row.
func (r Row) Key() [16]byte {
	h := sha256.New()
	switch r.Kind {
	case KindToken:
		h.Write([]byte("t\x00"))
		h.Write([]byte(r.Token))
	default:
		h.Write([]byte("u\x00"))
		h.Write([]byte(r.User))
		h.Write([]byte{0})
		h.Write([]byte(r.ConsumerKey))
	}
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Target is what the outcome file names: the user login ID for a user row,
// a fingerprint for a token row (never the token itself).
func (r Row) Target() string {
	if r.Kind == KindToken {
		return Fingerprint(r.Token)
	}
	return r.User
}

// FingerprintDigits is how many hex digits of a secret's SHA-256 its
// fingerprint keeps: 64 bits, so that over 10 million tokens the chance that
// two share a fingerprint stays near 3 in a million (48 bits made it 18%),
// and an auditor looking a token up finds its row and no other.
const FingerprintDigits = 16

// Fingerprint redacts a secret to "sha256:" and the first FingerprintDigits
// hex digits of its SHA-256: enough to match a row against a list, useless to
// an attacker.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:FingerprintDigits/2])
}

// IsFingerprint reports whether s has the shape Fingerprint gives: "sha256:"
// and FingerprintDigits lower-case hex digits.
func IsFingerprint(s string) bool {
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexPart) != FingerprintDigits {
		return false
	}
	for i := range len(hexPart) {
		if c := hexPart[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
