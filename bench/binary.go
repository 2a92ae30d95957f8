package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
)

// buildBinary builds the real bulkrevoke once, as a user would, so that every
// row measures the same binary and none pays for compilation.
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "bulkrevoke")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/bulkrevoke/bulkrevoke/cmd/bulkrevoke")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build bulkrevoke: %w\n%s", err, out.String())
	}
	return bin, nil
}

// job is one run of the binary.
type job struct {
	// args follow "bulkrevoke run".
	args []string
	// admin is put in CONCUR_ADMIN_TOKEN; "" for none.
	admin string
	// stdin, when set, is a file given to the process as its standard input.
	stdin string
	// budget bounds the run: past it the process gets SIGINT, which stops
	// it gently (in-flight requests finish and are recorded). 0 means none.
	budget time.Duration
	// logPath receives the process's standard error (its JSON log).
	logPath string
}

// jobResult is what one run of the binary did.
type jobResult struct {
	wall time.Duration
	exit int
	// maxRSSKiB is the process's peak resident set, from getrusage.
	maxRSSKiB int64
	// cpu is the process's user plus system time.
	cpu time.Duration
	// stopped is set when the budget ran out and the run was interrupted.
	stopped  bool
	finished finishedLine
}

// finishedLine is the run's closing log line, decoded into the type that
// writes it.
type finishedLine struct {
	cli.Finished
	found bool
}

func (h *harness) runJob(ctx context.Context, j job) (jobResult, error) {
	logFile, err := os.Create(j.logPath)
	if err != nil {
		return jobResult{}, fmt.Errorf("create log file: %w", err)
	}
	defer logFile.Close()
	res, err := h.spawn(ctx, append([]string{h.bin, "run"}, j.args...), jobEnv(os.Environ(), j.admin), j.stdin, logFile, j.budget)
	if err != nil {
		return res, err
	}
	if res.finished, err = readFinished(j.logPath); err != nil {
		return res, err
	}
	return res, nil
}

// spawn runs argv through a spawner (see spawnEnv) and returns its exit
// code, peak RSS and wall time.
func (h *harness) spawn(ctx context.Context, argv, env []string, stdin string, stderr *os.File, budget time.Duration) (jobResult, error) {
	self, err := os.Executable()
	if err != nil {
		return jobResult{}, fmt.Errorf("find the harness binary for spawning: %w", err)
	}
	h.seq++
	result := filepath.Join(h.opts.workDir, fmt.Sprintf("%02d-spawned.json", h.seq))
	cmd := exec.Command(self, argv...)
	cmd.Env = append(env, spawnEnv+"="+result)
	cmd.Stderr = stderr
	// Its own process group, so that a kill reaches the command too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if stdin != "" {
		in, err := os.Open(stdin)
		if err != nil {
			return jobResult{}, fmt.Errorf("open job input: %w", err)
		}
		defer in.Close()
		cmd.Stdin = in
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return jobResult{}, fmt.Errorf("start %s: %w", filepath.Base(argv[0]), err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var res jobResult
	var deadline <-chan time.Time
	if budget > 0 {
		t := time.NewTimer(budget)
		defer t.Stop()
		deadline = t.C
	}
	// A run that ignores SIGINT for this long is broken: kill it.
	const grace = time.Minute
	var kill <-chan time.Time
	var waitErr error
	done := ctx.Done()
	// SIGINT goes to the spawner alone, which passes it on once: a second
	// SIGINT would make bulkrevoke exit at once instead of gently.
	interrupt := func() {
		if kill == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			kill = time.After(grace)
		}
	}
wait:
	for {
		select {
		case waitErr = <-waited:
			break wait
		case <-deadline:
			res.stopped = true
			interrupt()
		case <-done:
			done = nil
			interrupt()
		case <-kill:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	res.wall = time.Since(start)
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("run %s: %w", filepath.Base(argv[0]), waitErr)
	}
	b, err := os.ReadFile(result)
	if err != nil {
		return res, fmt.Errorf("run %s: no result from the spawner (exit %d): %w", filepath.Base(argv[0]), cmd.ProcessState.ExitCode(), err)
	}
	var sp spawned
	if err := json.Unmarshal(b, &sp); err != nil {
		return res, fmt.Errorf("run %s: read spawner result: %w", filepath.Base(argv[0]), err)
	}
	if sp.Err != "" {
		return res, fmt.Errorf("run %s: %s", filepath.Base(argv[0]), sp.Err)
	}
	res.exit, res.maxRSSKiB, res.cpu = sp.Exit, sp.MaxRSSKiB, time.Duration(sp.CPUNanos)
	return res, nil
}

// jobEnv is the harness's environment without anything that would change
// the job's settings behind its flags, plus the administrator token.
func jobEnv(environ []string, admin string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if strings.HasPrefix(kv, "BULKREVOKE_") || strings.HasPrefix(kv, "CONCUR_ADMIN_TOKEN=") {
			continue
		}
		env = append(env, kv)
	}
	if admin != "" {
		env = append(env, "CONCUR_ADMIN_TOKEN="+admin)
	}
	return env
}

// readFinished finds the "finished" line in a JSON log.
func readFinished(path string) (finishedLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return finishedLine{}, fmt.Errorf("read job log: %w", err)
	}
	defer f.Close()
	var fin finishedLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"message":"finished"`)) {
			continue
		}
		if err := json.Unmarshal(line, &fin); err != nil {
			return finishedLine{}, fmt.Errorf("read job log %s: finished line: %w", path, err)
		}
		fin.found = true
	}
	if err := sc.Err(); err != nil {
		return finishedLine{}, fmt.Errorf("read job log %s: %w", path, err)
	}
	return fin, nil
}

// tail returns the last lines of a log, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
