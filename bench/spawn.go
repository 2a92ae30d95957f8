package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// spawnEnv, when set, turns this program into a spawner: it runs the command
// in its arguments and writes the command's exit code and peak RSS to the
// file the variable names.
//
// Why: on Linux, exec records the old address space's high-water mark in the
// new program's maxrss, and Go starts children with vfork, whose old address
// space is the parent's. Started straight from the harness, bulkrevoke would
// report the harness's own peak (the simulator's state included) whenever
// that is higher than its own. A fresh, small spawner bounds that floor to a
// few MiB, which the header reports.
const spawnEnv = "BENCH_SPAWN_RESULT"

// spawned is what a spawner reports about its command.
type spawned struct {
	Exit      int   `json:"exit"`
	MaxRSSKiB int64 `json:"max_rss_kib"`
	// CPUNanos is user plus system time: on a shared machine it says more
	// about the cost of a run than wall time does.
	CPUNanos int64  `json:"cpu_ns"`
	Err      string `json:"error,omitempty"`
}

// spawn runs argv with this process's standard streams, forwards SIGINT and
// SIGTERM to it, and writes a spawned record to result. It returns the
// command's exit code.
func spawn(result string, argv []string) int {
	report := func(s spawned) int {
		b, _ := json.Marshal(s)
		if err := os.WriteFile(result, b, 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "bench spawner: write result: %v\n", err)
			return 125
		}
		return s.Exit
	}
	if len(argv) == 0 {
		return report(spawned{Exit: 125, Err: "nothing to run"})
	}
	os.Unsetenv(spawnEnv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		return report(spawned{Exit: 125, Err: err.Error()})
	}
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return report(spawned{Exit: 125, Err: err.Error()})
	}
	s := spawned{Exit: cmd.ProcessState.ExitCode(), CPUNanos: int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime())}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSSKiB = ru.Maxrss // KiB on Linux
	}
	return report(s)
}
