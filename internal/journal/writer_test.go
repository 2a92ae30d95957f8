package journal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string
		existing string // content of a file already there; "" means none
		force    bool
		wantErr  []string // substrings of the error; nil means success
		want     string   // content after Create and Close
	}{
		{name: "new csv", file: "out.csv", want: csvHeader},
		{name: "new jsonl", file: "out.jsonl", want: ""},
		{name: "existing refused", file: "out.csv", existing: "precious\n", wantErr: []string{"out.csv", "--force", "--resume"}, want: "precious\n"},
		{name: "existing forced csv", file: "out.csv", existing: "old junk\nmore\n", force: true, want: csvHeader},
		{name: "existing forced jsonl", file: "out.ndjson", existing: `{"line":1}` + "\n", force: true, want: ""},
		{name: "bad extension", file: "out.txt", wantErr: []string{".csv, .jsonl or .ndjson"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if tt.existing != "" {
				// 0644 proves a forced overwrite tightens the mode.
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := Create(path, tt.force)
			if tt.wantErr != nil {
				if err == nil {
					w.Close()
					t.Fatal("Create succeeded, want an error")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if tt.existing != "" && !errors.Is(err, fs.ErrExist) {
					t.Errorf("error %v is not fs.ErrExist", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
				}
			}
			got, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) && tt.want == "" && tt.wantErr != nil {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("content = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	first := []revoke.Outcome{outcome(2, revoke.Revoked, ""), outcome(3, revoke.Failed, "503, \"busy\"")}
	next := outcome(4, revoke.NotFound, "gone")
	tests := []struct {
		name    string
		file    string
		prepare func(t *testing.T, path string) // makes the file to resume
		want    []revoke.Outcome                // outcomes after appending next
		wantErr string
	}{
		{
			name:    "intact csv",
			file:    "out.csv",
			prepare: func(t *testing.T, p string) { writeOutcomes(t, p, first...) },
			want:    append(slices.Clone(first), next),
		},
		{
			name: "torn csv inside a quoted field",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				writeOutcomes(t, p, first...)
				appendBytes(t, p, `4,user,vicky,k,failed,503,2,"busy, try`)
			},
			want: append(slices.Clone(first), next),
		},
		{
			name: "torn jsonl",
			file: "out.jsonl",
			prepare: func(t *testing.T, p string) {
				writeOutcomes(t, p, first...)
				appendBytes(t, p, `{"line":4,"kind":"us`)
			},
			want: append(slices.Clone(first), next),
		},
		{
			name: "torn jsonl whose tail is a whole record without newline",
			file: "out.jsonl",
			prepare: func(t *testing.T, p string) {
				writeOutcomes(t, p, first...)
				appendBytes(t, p, `{"line":9,"kind":"user","target":"x","consumer_key":"k","status":"revoked","http_status":200,"attempts":1,"error":"","correlation_id":"","duration_ms":1}`)
			},
			want: append(slices.Clone(first), next),
		},
		{
			// Create never leaves a CSV outcome file without its whole
			// header, so a file without one is someone else's.
			name: "torn csv header",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				os.WriteFile(p, []byte("line,kind,tar"), 0o600)
			},
			wantErr: "not an outcome file",
		},
		{
			name:    "empty csv",
			file:    "out.csv",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) },
			wantErr: "not an outcome file",
		},
		{
			name:    "empty jsonl",
			file:    "out.jsonl",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) },
			want:    []revoke.Outcome{next},
		},
		{
			name:    "jsonl whose only line is a torn first record",
			file:    "out.jsonl",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte(`{"line":3,"kind":"tok`), 0o600) },
			want:    []revoke.Outcome{next},
		},
		{
			name:    "jsonl whose only line is a torn first record, shorter than a key",
			file:    "out.jsonl",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte(`{"li`), 0o600) },
			want:    []revoke.Outcome{next},
		},
		{
			name: "csv that is not an outcome file",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				os.WriteFile(p, []byte("kind,token\ntoken,secret\n"), 0o600)
			},
			wantErr: "not an outcome file",
		},
		{
			name: "csv that is not an outcome file, without trailing newline",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				os.WriteFile(p, []byte("kind,token\ntoken,secret"), 0o600)
			},
			wantErr: "not an outcome file",
		},
		{
			name: "csv whose header ends in CRLF",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				os.WriteFile(p, []byte(strings.TrimSuffix(csvHeader, "\n")+"\r\n"), 0o600)
			},
			want: []revoke.Outcome{next},
		},
		{
			name: "csv whose first line only starts like the header",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				os.WriteFile(p, []byte(strings.TrimSuffix(csvHeader, "\n")+",extra\n"), 0o600)
			},
			wantErr: "not an outcome file",
		},
		{
			name:    "csv notes without any newline",
			file:    "out.csv",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte("my notes"), 0o644) },
			wantErr: "not an outcome file",
		},
		{
			name:    "csv whose header is not the first line",
			file:    "out.csv",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte("\n"+csvHeader), 0o600) },
			wantErr: "not an outcome file",
		},
		{
			name:    "jsonl notes without any newline",
			file:    "out.jsonl",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte("my notes"), 0o644) },
			wantErr: "not an outcome file",
		},
		{
			name:    "jsonl of other records",
			file:    "out.jsonl",
			prepare: func(t *testing.T, p string) { os.WriteFile(p, []byte(`{"token":"secret"}`+"\n"), 0o600) },
			wantErr: "not an outcome file",
		},
		{
			name: "symbolic link to an outcome file",
			file: "out.csv",
			prepare: func(t *testing.T, p string) {
				real := filepath.Join(filepath.Dir(p), "real.csv")
				writeOutcomes(t, real, first...)
				if err := os.Symlink(real, p); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "symbolic link",
		},
		{
			name:    "missing file",
			file:    "out.csv",
			prepare: func(t *testing.T, p string) {},
			wantErr: "resume",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			tt.prepare(t, path)
			before, _ := os.ReadFile(path)
			w, err := Append(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Append error = %v, want one containing %q", err, tt.wantErr)
				}
				if after, _ := os.ReadFile(path); string(after) != string(before) {
					t.Fatalf("refused file was changed:\n%q\nto\n%q", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(next); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, torn := readOutcomes(t, path)
			if torn {
				t.Error("torn = true after appending")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("outcomes = %v\nwant %v", got, tt.want)
			}
		})
	}
}
