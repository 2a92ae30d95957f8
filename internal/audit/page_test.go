package audit

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// problemReport is a report with something of everything: a sandbox run
// in a sidecar, missing rows, a failed one, an invalid one, user text that
// is markup, and a timeline over several minutes.
func problemReport(t *testing.T) (*Result, string) {
	t.Helper()
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), inputCSV+",<b>mallory</b>,key<script>\n")
	files := covering(t, dir)[:2]
	extra := writeOutcomes(t, filepath.Join(dir, "o-9.csv"), tok(8, "tok-delta", revoke.Revoked, at(3, 20)), usr(11, "<b>mallory</b>", "key<script>", revoke.Failed, at(7, 0)))
	writeText(t, SidecarPath(files[0]), `{"input":"in.csv","input_sha256":"ab","shard":"0/3","sandbox":true,"runs":[
	 {"run_id":"0123456789abcdef","operator":"alice","host":"laptop","version":"v1.2.3","instance":"127.0.0.1:9","provider":"concur","sandbox":true,"admin_token_fingerprint":"sha256:0f1e2d3c4b5a6978","command_line":["run","--sandbox","--shard","0/3","--out","o-0.csv","in.csv"],"input":"in.csv","started":"2026-12-01T22:00:00Z","ended":"2026-12-01T22:04:00Z","exit_code":1,"requests":9,"rows":{"revoked":2}}]}`)
	res, err := Report(Options{Files: append(files, extra), Input: in, Now: fixedNow, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	// Paths differ per test run: the golden files hold them relative.
	for i := range res.Files {
		res.Files[i].Path = filepath.Base(res.Files[i].Path)
	}
	for i := range res.Attention {
		if f := res.Attention[i].File; f != "" {
			res.Attention[i].File = filepath.Base(f)
		}
	}
	return res, dir
}

// stableFingerprints writes the tokens' fingerprints as names, so that the
// golden files do not change with the fingerprint's length.
func stableFingerprints(b []byte) []byte {
	for _, tok := range []string{"tok-alpha", "tok-bravo", "tok-charlie", "tok-delta", "tok-echo", "tok-foxtrot"} {
		b = bytes.ReplaceAll(b, []byte(input.Fingerprint(tok)), []byte("sha256:FINGERPRINT-OF-"+tok))
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = stableFingerprints(got)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update if intended):\n%s", path, got)
	}
}

func TestTextGolden(t *testing.T) {
	t.Parallel()
	res, _ := problemReport(t)
	var b bytes.Buffer
	if err := WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt.golden", b.Bytes())
	// The same table for a clean report.
	dir := t.TempDir()
	in := writeText(t, filepath.Join(dir, "in.csv"), "token,user,consumerKey\ntok-alpha,,\n")
	o := writeOutcomes(t, filepath.Join(dir, "o.csv"), tok(2, "tok-alpha", revoke.Revoked, at(1, 0)))
	clean, err := Report(Options{Files: []string{o}, Input: in, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	WriteText(&b, clean)
	golden(t, "report-clean.txt.golden", b.Bytes())
}

// structure reduces a page to its elements, ids and classes, one a line,
// indented by depth: what the golden file holds, so that a change of
// wording shows as one line and a lost table as many.
func structure(page string) string {
	tag := regexp.MustCompile(`<(/?)([a-zA-Z0-9]+)([^>]*)>`)
	attr := regexp.MustCompile(`\b(id|class)="([^"]*)"`)
	void := map[string]bool{"meta": true, "br": true, "line": true}
	var b strings.Builder
	depth := 0
	for _, m := range tag.FindAllStringSubmatch(page, -1) {
		if m[1] == "/" {
			depth--
			continue
		}
		b.WriteString(strings.Repeat("  ", depth) + m[2])
		for _, a := range attr.FindAllStringSubmatch(m[3], -1) {
			b.WriteString(" " + a[1] + "=" + a[2])
		}
		b.WriteString("\n")
		if !void[m[2]] && !strings.HasSuffix(m[3], "/") {
			depth++
		}
	}
	return b.String()
}

func TestHTMLGolden(t *testing.T) {
	t.Parallel()
	res, _ := problemReport(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	golden(t, "report.html.structure.golden", []byte(structure(page)))

	// Self-contained: nothing to fetch, nothing to run.
	for _, bad := range []string{"http:", "https:", "//", "src=", "href=", "<script", "<link", "@import", "url(", "@font-face"} {
		if strings.Contains(strings.ReplaceAll(page, "<!DOCTYPE html>", ""), bad) {
			t.Errorf("page holds %q: it must load nothing from outside", bad)
		}
	}
	// Text from the files is escaped, never markup; tokens only as
	// fingerprints.
	if strings.Contains(page, "<b>mallory") || !strings.Contains(page, "&lt;b&gt;mallory&lt;/b&gt;") {
		t.Error("a user ID holding markup was not escaped")
	}
	for _, secret := range []string{"tok-alpha", "tok-charlie", "tok-delta", "tok-foxtrot"} {
		if strings.Contains(page, secret) {
			t.Errorf("page holds the token %q", secret)
		}
	}
	for _, want := range []string{input.Fingerprint("tok-foxtrot"), "NOT COVERED", "alice", "laptop", "sha256:0f1e2d3c4b5a6978", "--sandbox simulator",
		"Revocations per minute", `<rect class="bar"`, "missing", "failed", "invalid", "run --sandbox --shard 0/3"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	if n := strings.Count(page, `<rect class="bar"`); n != 3 {
		t.Errorf("%d bars, want 3 (22:01, 22:02 without any, 22:03)", n)
	}
}

// chromium finds Debian's headless Chromium.
func chromium() string {
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestHTMLRendersInChromium draws the page in headless Chromium and checks
// the screenshot shows something: the tables and the chart, not a blank
// page (a template error after the head would give one).
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no headless Chromium (apt-get install chromium-headless-shell): skipping the rendering test")
	}
	t.Parallel()
	res, dir := problemReport(t)
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := WriteHTML(&b, res); err != nil {
		t.Fatal(err)
	}
	writeText(t, page, b.String())
	shot := filepath.Join(dir, "shot.png")
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,1600", "--screenshot=" + shot}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	outText, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, outText)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, outText)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("AUDIT_KEEP_SHOT"); p != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(p, b, 0o644)
	}
	colours, ink := countInk(img)
	// Text, table borders, the verdict's red, the sandbox's yellow, the
	// bars' blue: a blank or failed page has one colour.
	if colours < 8 || ink < 2000 {
		t.Errorf("screenshot looks blank: %d distinct colours, %d non-white pixels", colours, ink)
	}
	if !hasHue(img, func(r, g, b uint32) bool { return b > 0xa000 && r < 0x4000 && g > 0x5000 && g < 0x9000 }) {
		t.Error("no bar of the timeline's blue in the screenshot: the inline SVG was not drawn")
	}
}

func countInk(img image.Image) (colours, ink int) {
	seen := map[[3]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			seen[[3]uint32{cr >> 8, cg >> 8, cb >> 8}] = true
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				ink++
			}
		}
	}
	return len(seen), ink
}

func hasHue(img image.Image, match func(r, g, b uint32) bool) bool {
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if match(cr, cg, cb) {
				return true
			}
		}
	}
	return false
}
