package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/concur/sim"
)

// fast is the simulator for the unpaced comparisons: it answers at once and
// treats every token as live, so that each request revokes one token (a map
// write under a lock and an empty 200) whoever sends it.
var fast = sim.Config{Live: true}

// wrkScript makes wrk send what bulkrevoke sends: a POST to the endpoint
// with a fresh token in the query (so that every request revokes a live
// token, as bulkrevoke's do) and the same headers. Each wrk thread has its
// own Lua state, so the thread number keeps tokens unique across threads.
const wrkScript = `
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Authorization"] = "OAuth " .. os.getenv("BENCH_ADMIN_TOKEN")
wrk.headers["Accept"] = "application/xml"
wrk.headers["User-Agent"] = "wrk"
wrk.headers["Content-Length"] = "0"

local n = 0
function request()
  n = n + 1
  return wrk.format(nil, string.format("%s?token=0_wrk%02d%033d", PATH, id, n))
end
`

// peers compares bulkrevoke unpaced with wrk (the ceiling of what one
// client can get out of the server) and with the xargs+curl loop.
func (h *harness) peers(ctx context.Context, t *table, sc scaled) error {
	conns := h.opts.conns
	input, err := h.tokenInput(sc.peerRows)
	if err != nil {
		return err
	}
	_, wrkErr := exec.LookPath("wrk")
	var bestBulk, bestWrk float64
	var bulkWall float64
	var cpuPerRow time.Duration // the least over the repeats
	var wrkOwn float64
	for i := range h.opts.repeat {
		if wrkErr == nil {
			h.progress("peers: wrk -c %d for %s (%d/%d)", conns, sc.wrkDuration, i+1, h.opts.repeat)
			own, tr, err := h.runWrk(ctx, sc.wrkDuration)
			if err != nil {
				return err
			}
			if r := tr.rate(); r > bestWrk {
				bestWrk, wrkOwn = r, own
			}
		}
		h.progress("peers: bulkrevoke --rate 0 --concurrency %d over %d rows (%d/%d)", conns, sc.peerRows, i+1, h.opts.repeat)
		res, tr, err := h.revokeAll(ctx, "unpaced", fast, input, sc.peerRows, 0,
			"--rate", "0", "--concurrency", strconv.Itoa(conns))
		if err != nil {
			return err
		}
		if r := tr.rate(); r > bestBulk {
			bestBulk, bulkWall = r, perSecond(sc.peerRows, res.wall)
		}
		if c := res.cpu / time.Duration(sc.peerRows); cpuPerRow == 0 || c < cpuPerRow {
			cpuPerRow = c
		}
	}
	h.unpacedRate = bestBulk
	bulk := fmt.Sprintf("%.0f req/s at the server (%.0f rows/s wall, process start to exit; %.1f µs CPU a row)",
		bestBulk, bulkWall, float64(cpuPerRow.Nanoseconds())/1e3)
	what := fmt.Sprintf("unpaced vs wrk, %d connections, best of %d", conns, h.opts.repeat)
	if wrkErr != nil {
		h.progress("peers: wrk is not installed (apt-get install -y wrk): skipping the wrk row")
		t.add("peers", what, bulk, "wrk not installed: skipped", "-", "≥ 0.5× wrk")
	} else {
		ratio := bestBulk / bestWrk
		t.add("peers", what, bulk,
			fmt.Sprintf("wrk: %.0f req/s at the server (wrk says %.0f)", bestWrk, wrkOwn),
			fmt.Sprintf("%.2f× wrk", ratio), t.verdict("≥ 0.5× wrk", ratio >= 0.5))
	}
	return h.curlLoop(ctx, t, sc)
}

// runWrk points wrk at a fresh simulator for d and returns its own figure
// of requests per second and what the server saw.
func (h *harness) runWrk(ctx context.Context, d time.Duration) (float64, traffic, error) {
	srv, err := startServer(fast)
	if err != nil {
		return 0, traffic{}, err
	}
	defer srv.close()
	script := filepath.Join(h.opts.workDir, "revoke.lua")
	body := strings.Replace(wrkScript, "PATH", strconv.Quote(sim.Path), 1)
	if err := os.WriteFile(script, []byte(body), 0o600); err != nil {
		return 0, traffic{}, fmt.Errorf("write wrk script: %w", err)
	}
	threads := min(runtime.NumCPU(), h.opts.conns)
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(h.opts.conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))),
		"-s", script, srv.url+sim.Path)
	cmd.Env = append(os.Environ(), "BENCH_ADMIN_TOKEN="+srv.admin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, traffic{}, fmt.Errorf("run wrk: %w\n%s", err, out)
	}
	tr := srv.traffic()
	// Comparable work: every request must have revoked a live token, as
	// every one of bulkrevoke's does.
	if tr.revocations < int64(tr.requests)*99/100 {
		return 0, tr, fmt.Errorf("wrk: only %d of %d requests revoked a token; is the script sending what bulkrevoke sends?\n%s", tr.revocations, tr.requests, out)
	}
	return wrkRate(out), tr, nil
}

var wrkRequestsPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrkRate reads "Requests/sec: N" out of wrk's report, 0 if absent.
func wrkRate(out []byte) float64 {
	m := wrkRequestsPerSec.FindSubmatch(out)
	if m == nil {
		return 0
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// curlLoop compares bulkrevoke with what a user would write instead:
//
//	xargs -P64 -I{} curl -X POST -H @headers "$URL?token={}" < tokens.txt
//
// over the same rows. Wall time is the user's view: process start to exit.
func (h *harness) curlLoop(ctx context.Context, t *table, sc scaled) error {
	what := fmt.Sprintf("vs xargs -P%d curl, %d rows", h.opts.conns, sc.curlRows)
	if _, err := exec.LookPath("curl"); err != nil {
		h.progress("peers: curl is not installed: skipping the xargs+curl row")
		t.add("peers", what, "-", "curl not installed: skipped", "-", "-")
		return nil
	}
	bare := filepath.Join(h.opts.workDir, fmt.Sprintf("tokens-%d.txt", sc.curlRows))
	if err := writeTokens(bare, sc.curlRows, false); err != nil {
		return err
	}
	input, err := h.tokenInput(sc.curlRows)
	if err != nil {
		return err
	}

	h.progress("peers: xargs -P%d curl over %d rows", h.opts.conns, sc.curlRows)
	curlWall, curlTraffic, err := h.runCurlLoop(ctx, bare, sc.curlRows)
	if err != nil {
		return err
	}
	h.progress("peers: bulkrevoke --rate 0 --concurrency %d over the same %d rows", h.opts.conns, sc.curlRows)
	res, tr, err := h.revokeAll(ctx, "vs-curl", fast, input, sc.curlRows, 0,
		"--rate", "0", "--concurrency", strconv.Itoa(h.opts.conns))
	if err != nil {
		return err
	}
	speedup := curlWall.Seconds() / res.wall.Seconds()
	t.add("peers", what,
		fmt.Sprintf("%.2fs wall, %.0f rows/s (%.0f req/s at the server)", res.wall.Seconds(), perSecond(sc.curlRows, res.wall), tr.rate()),
		fmt.Sprintf("xargs+curl: %.2fs wall, %.0f rows/s (%.0f req/s at the server)", curlWall.Seconds(), perSecond(sc.curlRows, curlWall), curlTraffic.rate()),
		fmt.Sprintf("%.1f× faster", speedup), "-")
	return nil
}

func (h *harness) runCurlLoop(ctx context.Context, tokens string, rows int) (time.Duration, traffic, error) {
	srv, err := startServer(fast)
	if err != nil {
		return 0, traffic{}, err
	}
	defer srv.close()
	// The header file keeps the administrator token out of ps, as a careful
	// user's loop would.
	headers := filepath.Join(h.opts.workDir, "curl-headers")
	hdr := fmt.Sprintf("Authorization: OAuth %s\nAccept: application/xml\n", srv.admin)
	if err := os.WriteFile(headers, []byte(hdr), 0o600); err != nil {
		return 0, traffic{}, fmt.Errorf("write curl headers: %w", err)
	}
	cmd := exec.CommandContext(ctx, "xargs", "-a", tokens, "-P", strconv.Itoa(h.opts.conns), "-I{}",
		"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\n", "-X", "POST", "-H", "@"+headers,
		srv.url+sim.Path+"?token={}")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		return 0, traffic{}, fmt.Errorf("run xargs+curl: %w\n%s", err, stderr.String())
	}
	ok := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if sc.Text() == "200" {
			ok++
		}
	}
	if ok != rows {
		return 0, traffic{}, fmt.Errorf("xargs+curl: %d of %d requests answered 200\n%s", ok, rows, stderr.String())
	}
	return wall, srv.traffic(), nil
}
