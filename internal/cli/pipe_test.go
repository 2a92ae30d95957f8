package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// These tests feed INPUT through a real FIFO, the way bash's <(…), a named
// pipe or /dev/stdin does: it can be read once, so the survey (row count,
// SHA-256) must not drain it before the run reads it.

// mkfifo makes a named pipe in dir and writes content into it from a
// goroutine once a reader opens it. The test's cleanup unblocks the writer
// if nobody ever reads. A run that opened INPUT a second time would wait in
// open for a writer that never comes: that regression shows as the test
// binary's timeout, not as a failed check.
func mkfifo(t *testing.T, dir, name, content string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs on Windows")
	}
	path := filepath.Join(dir, name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		w.WriteString(content) // EPIPE once the cleanup's reader goes away
	}()
	t.Cleanup(func() {
		// A writer that nobody read from, or that has yet to open, finds
		// this reader, whose reads drain what it writes, and ends.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			<-done
			return
		}
		defer r.Close()
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := r.Read(buf); err != nil {
				runtime.Gosched() // EOF while no writer has it open yet
			}
		}
	})
	return path
}

// spoolWatch looks, from the server's side of a run, for the spool file the
// run reads its input from: on Linux an open descriptor whose file lies in
// dir and has no name left. It notes the file's permissions.
type spoolWatch struct {
	dir   string
	mu    sync.Mutex
	seen  bool
	perms []os.FileMode
}

func (s *spoolWatch) look() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen {
		return
	}
	s.seen = true
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		p := "/proc/self/fd/" + fd.Name()
		link, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(link, filepath.Join(s.dir, ".bulkrevoke-input-")) {
			continue
		}
		if !strings.HasSuffix(link, " (deleted)") {
			s.perms = append(s.perms, 0o7777) // a spool file with a name: fails below
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			s.perms = append(s.perms, fi.Mode().Perm())
		}
	}
}

// check requires exactly one spool file, seen during the run with mode 0600
// and no name, and nothing of it left in dir after the run.
func (s *spoolWatch) check(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "linux" {
		if len(s.perms) != 1 || s.perms[0] != 0o600 {
			t.Errorf("spool files seen during the run (their modes; 07777: one still had a name): %o; want one of mode 0600, nameless", s.perms)
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.dir, ".bulkrevoke-input-*"))
	if len(left) > 0 {
		t.Errorf("spool files left after the run: %v", left)
	}
	if runtime.GOOS == "linux" {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if link, _ := os.Readlink("/proc/self/fd/" + fd.Name()); strings.HasPrefix(link, filepath.Join(s.dir, ".bulkrevoke-input-")) {
				t.Errorf("spool file still open after the run: %s", link)
			}
		}
	}
}

// pipeServer is a simulator that looks for the spool file on the first
// request of a run.
func pipeServer(t *testing.T, watch *spoolWatch) *server {
	return newServer(t, sim.Config{}, func(_ int64, _ http.ResponseWriter, _ *http.Request) bool {
		watch.look()
		return false
	})
}

// TestFIFOInputJSONL: 5,000 JSONL rows through a FIFO give exactly 5,000
// outcomes, each row revoked on the server, and the progress total counts
// all of them.
func TestFIFOInputJSONL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	watch := &spoolWatch{dir: dir}
	srv := pipeServer(t, watch)
	const n = 5000
	in := inputFile{rows: map[int64]inputRow{}, first: map[int64]int64{}}
	var b strings.Builder
	for i := range n {
		tok := fmt.Sprintf("tok-fifo-%05d", i)
		srv.AddToken(tok)
		fmt.Fprintf(&b, `{"token":%q}`+"\n", tok)
		line := int64(i + 1)
		in.rows[line] = inputRow{key: "token:" + tok}
		in.first[line] = line
	}
	fifo := mkfifo(t, dir, "in.jsonl", b.String())
	out := filepath.Join(dir, "out.jsonl")
	res, fin := runJob(t, srv, testAdminToken, "--rate", "0", "--out", out, fifo)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	if got := len(checkExact(t, srv, in, out, fin.Unrecorded)); got != n {
		t.Errorf("%d outcomes, want %d", got, n)
	}
	if rows := startingRows(t, res.stderr); rows != n {
		t.Errorf("starting line counts %d rows, want %d", rows, n)
	}
	watch.check(t)
}

// TestFIFOInputCSVOver64KiB: a CSV larger than a pipe's buffer (and the
// reader's) goes through a FIFO whole: its header is read, not mistaken for
// data after a drained survey, and every row gets its outcome.
func TestFIFOInputCSVOver64KiB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	watch := &spoolWatch{dir: dir}
	srv := pipeServer(t, watch)
	rows := liveRows(srv.Server, "big-csv-fifo-padded", 1200, 600)
	var b strings.Builder
	b.WriteString("token,user,consumerKey\n")
	for _, r := range rows {
		b.WriteString(r.csv + "\n")
	}
	if b.Len() <= 64<<10 {
		t.Fatalf("input is %d bytes, want over 64 KiB", b.Len())
	}
	// The same rows in a regular file, only to know each line's target.
	in := writeRows(t, t.TempDir(), "ref.csv", rows)
	fifo := mkfifo(t, dir, "in.csv", b.String())
	out := filepath.Join(dir, "out.csv")
	res, fin := runJob(t, srv, testAdminToken, "--rate", "0", "--out", out, fifo)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	if got := len(checkExact(t, srv, in, out, fin.Unrecorded)); got != len(rows) {
		t.Errorf("%d outcomes, want %d", got, len(rows))
	}
	watch.check(t)
}

// TestFIFOInputResume: --resume checks a FIFO's content, not its name: the
// same rows again resume the completed file and send nothing; other rows are
// refused before anything is sent.
func TestFIFOInputResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := newServer(t, sim.Config{}, nil)
	rows := liveRows(srv.Server, "fifo-resume", 20, 5)
	in := writeRows(t, t.TempDir(), "ref.csv", rows)
	content, err := os.ReadFile(in.path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	res, _ := runJob(t, srv, testAdminToken, "--rate", "0", "--out", out, mkfifo(t, dir, "first.csv", string(content)))
	if res.code != ExitOK {
		t.Fatalf("first run: exit %d:\n%s", res.code, res.stderr)
	}
	sent := srv.hits.Load()
	res, fin := runJob(t, srv, testAdminToken, "--resume", "--rate", "0", "--out", out, mkfifo(t, dir, "again.csv", string(content)))
	if res.code != ExitOK || srv.hits.Load() != sent || fin.Skipped != int64(len(rows)) {
		t.Errorf("resume with the same rows: exit %d, %d more requests, %d skipped; want exit 0, none sent, %d skipped:\n%s",
			res.code, srv.hits.Load()-sent, fin.Skipped, len(rows), res.stderr)
	}
	res, _ = runJobOrRefusal(t, srv, "--resume", "--rate", "0", "--out", out, mkfifo(t, dir, "other.csv", string(content)+"tok-fifo-other,,\n"))
	if res.code != ExitUsage || !strings.Contains(res.stderr, "SHA-256 differs") || srv.hits.Load() != sent {
		t.Errorf("resume with other rows: exit %d after %d more requests, want exit 2 and none:\n%s", res.code, srv.hits.Load()-sent, res.stderr)
	}
}

// TestStdinInput: "-" reads standard input once, through the same spool: the
// run gets every row, the progress total is known, a resume with the same
// rows sends nothing, and the spool is gone afterwards.
func TestStdinInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	watch := &spoolWatch{dir: dir}
	srv := pipeServer(t, watch)
	rows := liveRows(srv.Server, "stdin", 30, 10)
	in := writeRows(t, t.TempDir(), "ref.csv", rows)
	content, err := os.ReadFile(in.path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	env := map[string]string{EnvAdminToken: testAdminToken}
	args := []string{"run", "--base-url", srv.url, "--log-format", "json", "--rate", "0", "--format", "csv", "--out", out}
	res := runMain(t, t.Context(), env, string(content), append(args, "-")...)
	if res.code != ExitOK {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	checkExact(t, srv, in, out, finishedLine(t, res.stderr).Unrecorded)
	if got := startingRows(t, res.stderr); got != int64(len(rows)) {
		t.Errorf("starting line counts %d rows, want %d", got, len(rows))
	}
	watch.check(t)
	sent := srv.hits.Load()
	res = runMain(t, t.Context(), env, string(content), append(args, "--resume", "-")...)
	if res.code != ExitOK || srv.hits.Load() != sent {
		t.Errorf("resume from standard input: exit %d, %d more requests; want exit 0, none:\n%s", res.code, srv.hits.Load()-sent, res.stderr)
	}
}

// TestFIFOInputRefused: a FIFO whose content is unusable is refused (exit 2)
// like a file, nothing is sent and no spool is left.
func TestFIFOInputRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := newServer(t, sim.Config{}, nil)
	fifo := mkfifo(t, dir, "in.csv", "tok-no-header-0001\n"+strings.Repeat("tok-no-header-0002\n", 10000))
	res, _ := runJobOrRefusal(t, srv, "--out", filepath.Join(dir, "out.csv"), fifo)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "header") || srv.hits.Load() != 0 {
		t.Errorf("exit %d after %d requests, want 2 naming the header and none sent:\n%s", res.code, srv.hits.Load(), res.stderr)
	}
	(&spoolWatch{dir: dir, perms: []os.FileMode{0o600}}).check(t)
}

// endless is an input that never ends: a CSV header, then the same row
// forever. read counts the bytes handed out.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	const head, row = "token\n", "tok-endless-0001\n"
	for i := range p {
		if at := e.read + int64(i); at < int64(len(head)) {
			p[i] = head[at]
		} else {
			p[i] = row[(at-int64(len(head)))%int64(len(row))]
		}
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestSpoolBounded: an input that never ends is refused (exit 2, nothing
// sent, no spool left) once it would leave less than the reserve free,
// instead of filling the disk; one within the bound runs. The free space
// is faked: the reserve plus 2 MiB on a small filesystem. Not parallel: it
// replaces spoolSpace.
func TestSpoolBounded(t *testing.T) {
	const limit = 2 << 20
	old := spoolSpace
	spoolSpace = func(string) (uint64, uint64, error) { return spoolReserveMin + limit, 1 << 30, nil }
	t.Cleanup(func() { spoolSpace = old })

	dir := t.TempDir()
	srv := newServer(t, sim.Config{}, nil)
	env := map[string]string{EnvAdminToken: testAdminToken}
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "--base-url", srv.url, "--rate", "0", "--format", "csv", "--out", out, "-"}
	in := &endless{}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, func(k string) string { return env[k] }, in, &stdout, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), "never ends") || srv.hits.Load() != 0 {
		t.Errorf("endless input: exit %d after %d requests, want 2 saying the input never ends and none sent:\n%s", code, srv.hits.Load(), stderr.String())
	}
	if in.read > limit+1<<20 {
		t.Errorf("read %d bytes of the endless input, want it refused near the %d-byte bound", in.read, limit)
	}
	(&spoolWatch{dir: dir, perms: []os.FileMode{0o600}}).check(t)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("refused run left an outcome file %s", out)
	}

	// Within the bound: the same fake disk takes a small input.
	rows := liveRows(srv.Server, "bounded", 5, 0)
	ref := writeRows(t, t.TempDir(), "ref.csv", rows)
	content, err := os.ReadFile(ref.path)
	if err != nil {
		t.Fatal(err)
	}
	res := runMain(t, t.Context(), env, string(content), args...)
	if res.code != ExitOK {
		t.Fatalf("small input under the bound: exit %d:\n%s", res.code, res.stderr)
	}
	checkExact(t, srv, ref, out, finishedLine(t, res.stderr).Unrecorded)
}

// TestSpoolLimit: the spool's bound is the free space less the reserve, a
// tenth of the filesystem and at least 256 MiB; below the reserve only an
// empty input is taken. Not parallel: it replaces spoolSpace.
func TestSpoolLimit(t *testing.T) {
	old := spoolSpace
	t.Cleanup(func() { spoolSpace = old })
	for _, c := range []struct {
		free, total uint64
		want        int64
	}{
		{free: 300 << 20, total: 1 << 30, want: 300<<20 - spoolReserveMin}, // a tenth is less than 256 MiB
		{free: 50 << 30, total: 100 << 30, want: 40 << 30},                 // a tenth is 10 GiB
		{free: 100 << 20, total: 1 << 30, want: 0},                         // below the reserve
		{free: spoolReserveMin, total: 1 << 30, want: 0},
	} {
		spoolSpace = func(string) (uint64, uint64, error) { return c.free, c.total, nil }
		got, err := spoolLimit(t.TempDir())
		if err != nil || got != c.want {
			t.Errorf("free %d of %d: limit %d (%v), want %d", c.free, c.total, got, err, c.want)
		}
	}
	// Below the reserve: nothing but an empty input.
	spoolSpace = func(string) (uint64, uint64, error) { return 1 << 20, 1 << 30, nil }
	dir := t.TempDir()
	_, size, _, done, err := spoolInput(strings.NewReader(""), dir)
	if err != nil || size != 0 {
		t.Fatalf("empty input below the reserve: size %d, %v; want it spooled", size, err)
	}
	done()
	if _, _, _, _, err := spoolInput(strings.NewReader("x"), dir); !errors.Is(err, errSpoolFull) {
		t.Errorf("one byte below the reserve: %v, want errSpoolFull", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, spoolPattern)); len(left) > 0 {
		t.Errorf("spool files left: %v", left)
	}
	spoolSpace = func(string) (uint64, uint64, error) { return 0, 0, syscall.EIO }
	if _, _, _, _, err := spoolInput(strings.NewReader("x"), dir); err == nil || !strings.Contains(err.Error(), "free space in") {
		t.Errorf("statfs failing: %v, want an error naming the free space", err)
	}
}
