package endpoint

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSecretChars(t *testing.T) {
	for _, tt := range []struct {
		in            string
		token, vschar bool // want, without and with spaces
	}{
		{"abc-DEF_123.~+/=", true, true},
		{"s3cr&t=+/ x%:y", false, true},
		{"tab\there", false, false},
		{"newline\n", false, false},
		{"del\x7f", false, false},
		{"nul\x00", false, false},
		{"café", false, false},
		{"", true, true},
	} {
		if got := SecretChars(tt.in, false); got != tt.token {
			t.Errorf("SecretChars(%q, false) = %v, want %v", tt.in, got, tt.token)
		}
		if got := SecretChars(tt.in, true); got != tt.vschar {
			t.Errorf("SecretChars(%q, true) = %v, want %v", tt.in, got, tt.vschar)
		}
	}
}

func TestSecretRead(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOK": "  from-env\n"}
	getenv := func(k string) string { return env[k] }
	for _, tt := range []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"environment, trimmed", Secret{What: "token", Flag: "--token-file", Env: "TOK"}, "from-env", ""},
		{"the file wins", Secret{What: "token", Flag: "--token-file", Path: file("t", "from-file\n"), Env: "TOK"}, "from-file", ""},
		{"nothing set", Secret{What: "token", Flag: "--token-file", Env: "NONE"}, "", "no token: set $NONE or give --token-file"},
		{"empty file", Secret{What: "token", Flag: "--token-file", Path: file("e", " \n"), Env: "TOK"}, "", "--token-file: the file is empty"},
		{"a space in a token", Secret{What: "token", Flag: "--token-file", Path: file("s", "a b"), Env: "TOK"}, "", "holds a space"},
		{"a space in a client secret", Secret{What: "secret", Flag: "--f", Path: file("s2", "a b\n"), Env: "TOK", Spaces: true}, "a b", ""},
		{"a control character", Secret{What: "secret", Flag: "--f", Path: file("c", "a\x01b"), Env: "TOK", Spaces: true}, "", "control"},
		{"a FIFO, not waited on", Secret{What: "token", Flag: "--token-file", Path: fifo, Env: "TOK"}, "", "not a FIFO"},
		{"missing, path not shown", Secret{What: "token", Flag: "--token-file", Path: filepath.Join(dir, "PASTED-SECRET"), Env: "TOK"}, "", "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Read(getenv)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Read error %v, want one saying %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "PASTED-SECRET") || strings.Contains(err.Error(), dir) {
				t.Errorf("error %q shows the path", err)
			}
		})
	}
}
