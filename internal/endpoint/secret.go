package endpoint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// MaxSecretBytes bounds a secret file: a token or a client secret is a few
// kilobytes at most, and a path to something endless (/dev/zero) must not
// be read for ever.
const MaxSecretBytes = 64 << 10

// SecretChars is the one rule for the characters of a secret we send (an
// administrator token, a client secret): visible ASCII, 0x21 to 0x7E, and
// with spaces set also the space inside, for a secret whose grammar has it
// (RFC 6749's VSCHAR, a client secret, which is form-urlencoded before it is
// sent); a bearer-style token (RFC 6750's b64token, sent raw in a header)
// has none. A control character (usually the newline `cat secret-file`
// left) or a non-ASCII byte is refused by every reader and every client
// alike: a header or a form field would carry it raw, or mangle it.
func SecretChars(s string, spaces bool) bool {
	for i := range len(s) {
		if c := s[i]; (c < 0x21 || c > 0x7e) && (c != ' ' || !spaces) {
			return false
		}
	}
	return true
}

// Secret says where a secret comes from: the file named by a flag, else an
// environment variable. The flag wins: flags are more specific than the
// environment.
type Secret struct {
	// What names it in errors: "administrator token", "client secret".
	What string
	// Flag is the flag naming the file, e.g. "--admin-token-file"; Path is
	// its value ("" when not given).
	Flag, Path string
	// Env is the environment variable, e.g. "CONCUR_ADMIN_TOKEN".
	Env string
	// Spaces allows spaces inside the secret (SecretChars).
	Spaces bool
}

// Read reads the secret, trimmed of surrounding white space, and holds it
// to SecretChars. Its errors never show the secret nor the file's path (an
// operator may have pasted the secret itself as the file name).
func (s Secret) Read(getenv func(string) string) (string, error) {
	var secret string
	if s.Path != "" {
		b, err := ReadSecretFile(s.Flag, s.Path)
		if err != nil {
			return "", err
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("%s: the file is empty", s.Flag)
		}
	} else {
		secret = strings.TrimSpace(getenv(s.Env))
		if secret == "" {
			return "", fmt.Errorf("no %s: set $%s or give %s", s.What, s.Env, s.Flag)
		}
	}
	if !SecretChars(secret, s.Spaces) {
		if s.Spaces {
			return "", fmt.Errorf("the %s holds a control or non-ASCII character; check how it was saved", s.What)
		}
		return "", fmt.Errorf("the %s holds a space or a control or non-ASCII character; check how it was saved", s.What)
	}
	return secret, nil
}

// ReadSecretFile reads the secret file path named by flag: a regular file
// (symbolic links are followed, as Kubernetes mounts secrets), at most
// MaxSecretBytes. It never blocks (a FIFO with no writer is refused, not
// waited on), and its errors never show the path.
func ReadSecretFile(flag, path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot open the file (%s)", flag, reason(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the file (%s)", flag, reason(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: want a regular file, not %s", flag, ownfile.ModeText(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the file (%s)", flag, reason(err))
	}
	if len(b) > MaxSecretBytes {
		return nil, fmt.Errorf("%s: the file is larger than %d KiB, which no secret is", flag, MaxSecretBytes>>10)
	}
	return b, nil
}

// reason is an error's cause without the path that *fs.PathError adds.
func reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "read error"
}
