package audit

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/journal"
	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// Exit codes of bulkrevoke report.
const (
	ExitOK       = 0 // every input row covered once, no row failed
	ExitProblems = 1 // a row failed, or the files do not cover the input exactly
	ExitUnusable = 2 // a file could not be read, or a flag is wrong
)

// firstFew is how many line numbers a problem lists.
const firstFew = 10

// maxAttention bounds the rows that need attention listed in the text and
// HTML reports; every one of them is counted, and --unrevoked and --out
// hold them all.
const maxAttention = 500

// Options says what to read and what to write. Empty paths are not written.
type Options struct {
	Files     []string // outcome files, e.g. a run's shards
	Input     string   // the input, for the coverage check
	Out       string   // merged outcome file
	Unrevoked string   // input rows still alive (needs Input)
	Summary   string   // combined summary, JSON
	HTML      string   // the incident record page
	// Force replaces output files that exist (never a symbolic link).
	Force bool
	// Now stamps the report; time.Now when nil.
	Now func() time.Time
	// Version is the tool's version, written in the summary and the page.
	Version string
	// Rows says how the run read Input: the applications its user rows
	// were fanned out over (--consumer-key) and its column settings, so
	// that the report reads the same targets.
	Rows input.Options
}

// Problem is one class of coverage problem: how many and the first lines.
type Problem struct {
	Count int64   `json:"count"`
	Lines []int64 `json:"first_lines,omitempty"`
}

func (p *Problem) add(line int64) {
	p.Count++
	if len(p.Lines) < firstFew {
		p.Lines = append(p.Lines, line)
	}
}

// Coverage is the verdict of --input.
type Coverage struct {
	Checked   bool   `json:"checked"`
	Input     string `json:"input,omitempty"`
	InputRows int64  `json:"input_rows"`
	// Covered rows have exactly one outcome, about the row's own target.
	Covered int64 `json:"covered"`
	// Missing rows have no outcome in any file.
	Missing Problem `json:"missing"`
	// Conflicts are lines with an outcome in more than one file.
	Conflicts Problem `json:"conflicts"`
	// OtherTarget rows have an outcome that names another target: the
	// outcome file was made from another input.
	OtherTarget Problem `json:"other_target"`
	// NotInInput are outcome lines on which the input has no row.
	NotInInput Problem `json:"not_in_input"`
}

// OK reports whether the files cover the input exactly.
func (c Coverage) OK() bool {
	return c.Checked && c.Missing.Count == 0 && c.Conflicts.Count == 0 && c.OtherTarget.Count == 0 && c.NotInInput.Count == 0
}

// Attention is a row someone must look at.
type Attention struct {
	Line int64 `json:"line"`
	// Problem is the outcome's status (failed, invalid), or missing,
	// conflict, other_target, not_in_input.
	Problem     string `json:"problem"`
	Kind        string `json:"kind"`
	Target      string `json:"target"` // a fingerprint for a token
	ConsumerKey string `json:"consumer_key,omitempty"`
	Error       string `json:"error,omitempty"`
	File        string `json:"file,omitempty"`
}

// FileReport is what the report says of one outcome file.
type FileReport struct {
	Path    string `json:"path"`
	Records int64  `json:"records"`
	// Torn: the file ends in a torn line (its writer was killed
	// mid-write); that line is not counted.
	Torn bool `json:"torn,omitempty"`
	// Compacted: in line order with one record a line, as a completed run
	// leaves it. A stopped run's file is not, and may repeat lines.
	Compacted bool `json:"compacted"`
	// Sidecar is OUT.meta.json when present.
	Sidecar *Sidecar `json:"sidecar,omitempty"`
}

// Bucket is one bar of the timeline: revocations settled in [Start,
// Start+Width).
type Bucket struct {
	Start time.Time `json:"start"`
	Count int64     `json:"count"`
}

// Result is the report.
type Result struct {
	Version  string       `json:"version"`
	Created  time.Time    `json:"created"`
	Files    []FileReport `json:"files"`
	Rows     int64        `json:"rows"` // distinct lines across the files
	ByStatus map[revoke.Status]int64
	Coverage Coverage `json:"coverage"`
	// Attention lists the first maxAttention rows to look at; AttentionRows
	// counts them all.
	Attention     []Attention `json:"-"`
	AttentionRows int64       `json:"attention_rows"`
	// FirstSettled and LastSettled bound the settled_at of the rows.
	FirstSettled time.Time `json:"first_settled,omitzero"`
	LastSettled  time.Time `json:"last_settled,omitzero"`
	// Timeline counts revocations by BucketWidth from settled_at.
	Timeline    []Bucket      `json:"-"`
	BucketWidth time.Duration `json:"-"`
	// Sandbox is set when some file holds outcomes from the simulator.
	Sandbox  bool `json:"sandbox"`
	ExitCode int  `json:"exit_code"`
	// Unrevoked counts the rows written to --unrevoked.
	Unrevoked int64 `json:"unrevoked_rows,omitempty"`

	minutes map[int64]int64
}

// Failed is the number of failed rows.
func (r *Result) Failed() int64 { return r.ByStatus[revoke.Failed] }

// UsageError is a refusal before anything is read: a wrong flag, an
// unusable file, an output that would overwrite something. Exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// Report reads the files, checks coverage and writes the outputs asked for.
// An error is a *UsageError (exit 2) or an I/O failure (also exit 2); a
// report that finds problems is no error: see Result.ExitCode.
func Report(opt Options) (*Result, error) {
	if len(opt.Files) == 0 {
		return nil, usagef("no outcome file given")
	}
	if opt.Unrevoked != "" && opt.Input == "" {
		return nil, usagef("--unrevoked needs --input: it copies the input's rows")
	}
	var inFormat input.Format
	if opt.Input != "" {
		f, ok := input.FormatFromPath(opt.Input)
		if !ok {
			return nil, usagef("--input %s: unknown extension %q: use .csv, .jsonl or .ndjson", opt.Input, filepath.Ext(opt.Input))
		}
		inFormat = f
		// Read twice (rows, then bytes for --unrevoked): a pipe would
		// give its content to the first read only.
		if fi, err := os.Stat(opt.Input); err == nil && !fi.Mode().IsRegular() {
			return nil, usagef("--input %s is not a regular file: the report reads it twice; copy it to a file first", opt.Input)
		}
	}
	if err := checkPaths(opt); err != nil {
		return nil, err
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	res := &Result{Version: opt.Version, Created: now().UTC(), ByStatus: map[revoke.Status]int64{}, minutes: map[int64]int64{}}

	// Every file is read once before anything is written: an unreadable
	// one is refused with nothing left behind.
	files := make([]*outcomeFile, len(opt.Files))
	for i, path := range opt.Files {
		if _, err := journal.FormatOf(path); err != nil {
			return nil, &UsageError{err}
		}
		f, err := survey(path)
		if err != nil {
			return nil, &UsageError{err}
		}
		files[i] = f
		fr := FileReport{Path: path, Records: f.records, Torn: f.torn, Compacted: f.sorted}
		sc, err := ReadSidecar(path)
		if err != nil {
			return nil, &UsageError{err}
		}
		fr.Sidecar = sc
		if sc != nil && sc.Sandbox {
			res.Sandbox = true
		}
		res.Files = append(res.Files, fr)
	}

	err := withOutput(opt.Out, 0o600, func(out io.Writer) error {
		var merged *journal.Writer
		if out != nil {
			format, _ := journal.FormatOf(opt.Out)
			w, err := journal.NewEncoder(out, opt.Out, format)
			if err != nil {
				return err
			}
			merged = w
		}
		return withOutput(opt.Unrevoked, 0o600, func(unrevoked io.Writer) error {
			return res.join(opt, inFormat, files, merged, unrevoked)
		})
	})
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, fmt.Errorf("report: %w", err)
	}
	res.finish()

	if opt.Summary != "" {
		if err := writeSummary(opt.Summary, res); err != nil {
			return nil, err
		}
	}
	if opt.HTML != "" {
		if err := ownfile.WriteAtomic(opt.HTML, 0o600, func(w io.Writer) error { return WriteHTML(w, res) }); err != nil {
			return nil, fmt.Errorf("write --html %s: %w", opt.HTML, err)
		}
	}
	return res, nil
}

// withOutput runs fn with a writer onto path, written atomically, or with
// nil when path is empty.
func withOutput(path string, mode os.FileMode, fn func(io.Writer) error) error {
	if path == "" {
		return fn(nil)
	}
	return ownfile.WriteAtomic(path, mode, fn)
}

// join walks the merged outcomes by line, beside the input when there is
// one, counting, checking and writing as it goes.
func (res *Result) join(opt Options, inFormat input.Format, files []*outcomeFile, merged *journal.Writer, unrevoked io.Writer) error {
	groups, groupsErr := merge(files)
	take := func(g group) error {
		res.count(opt, g)
		if merged != nil {
			if err := merged.Write(g.chosen().outcome); err != nil {
				return err
			}
		}
		return nil
	}
	if opt.Input == "" {
		for g := range groups {
			if err := take(g); err != nil {
				return err
			}
		}
		return groupsErr()
	}

	rows, closeRows, err := openInput(opt.Input, inFormat, opt.Rows)
	if err != nil {
		return err
	}
	defer closeRows()
	var raw *rawLines
	if unrevoked != nil {
		f, err := os.Open(opt.Input)
		if err != nil {
			return &UsageError{fmt.Errorf("--input: %w", err)}
		}
		defer f.Close()
		raw = newRawLines(f)
	}
	res.Coverage.Checked = true
	res.Coverage.Input = opt.Input

	next, stop := iterPull(groups)
	defer stop()
	g, ok := next()
	// The row whose lines are not yet copied or skipped: its extent ends
	// where the next row starts.
	pendingLine, pendingCopy, first := int64(0), false, true
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &UsageError{fmt.Errorf("read --input %s: %w", opt.Input, err)}
		}
		res.Coverage.InputRows++
		for ok && compareRow(g, row) < 0 {
			res.Coverage.NotInInput.add(g.line)
			res.attend(Attention{Line: g.line, Problem: "not_in_input", Kind: string(g.entries[0].outcome.Kind), Target: g.entries[0].outcome.Target,
				ConsumerKey: g.entries[0].outcome.ConsumerKey, File: opt.Files[g.entries[0].file], Error: "an outcome for a line on which the input has no row"})
			if err := take(g); err != nil {
				return err
			}
			g, ok = next()
		}
		alive := true
		if ok && compareRow(g, row) == 0 {
			alive = res.check(opt, row, g)
			if err := take(g); err != nil {
				return err
			}
			g, ok = next()
		} else {
			res.Coverage.Missing.add(row.Line)
			res.attend(Attention{Line: row.Line, Problem: "missing", Kind: string(row.Kind), Target: row.Target(), ConsumerKey: row.ConsumerKey,
				Error: "no outcome in any file"})
		}
		if raw != nil {
			if first {
				// The lines before the first row: the CSV header.
				if err := raw.copyRange(headerWriter(unrevoked, inFormat), 1, row.Line); err != nil {
					return err
				}
				first = false
			} else if row.Line == pendingLine {
				// Another application of a fanned-out row: its line
				// is copied if any of its targets may be alive.
				alive = alive || pendingCopy
				if pendingCopy {
					res.Unrevoked--
				}
			} else if err := raw.copyRange(copyTo(unrevoked, pendingCopy), pendingLine, row.Line); err != nil {
				return err
			}
			pendingLine, pendingCopy = row.Line, alive
			if alive {
				res.Unrevoked++
			}
		}
	}
	if raw != nil {
		var err error
		if first {
			err = raw.copyRange(headerWriter(unrevoked, inFormat), 1, -1)
		} else {
			err = raw.copyRange(copyTo(unrevoked, pendingCopy), pendingLine, -1)
		}
		if err != nil {
			return err
		}
	}
	for ; ok; g, ok = next() {
		res.Coverage.NotInInput.add(g.line)
		res.attend(Attention{Line: g.line, Problem: "not_in_input", Kind: string(g.entries[0].outcome.Kind), Target: g.entries[0].outcome.Target,
			ConsumerKey: g.entries[0].outcome.ConsumerKey, File: opt.Files[g.entries[0].file], Error: "an outcome for a line on which the input has no row"})
		if err := take(g); err != nil {
			return err
		}
	}
	stop()
	return groupsErr()
}

// compareRow orders a group of outcomes against an input row by target:
// line, then consumer key (see compareTarget). An invalid row has one
// outcome for its line, whatever consumer key that names.
func compareRow(g group, row input.Row) int {
	if c := cmp.Compare(g.line, row.Line); c != 0 || row.Invalid != "" {
		return c
	}
	return cmp.Compare(g.entries[0].outcome.ConsumerKey, row.ConsumerKey)
}

func copyTo(w io.Writer, copyIt bool) io.Writer {
	if copyIt {
		return w
	}
	return nil
}

// headerWriter is where the lines before the first row go: a CSV header is
// kept; a JSONL file has none, only blank lines.
func headerWriter(w io.Writer, f input.Format) io.Writer {
	if f == input.CSV {
		return w
	}
	return nil
}

// check compares a row of the input with the outcomes of its line, and
// reports whether the row's target may still be alive: no outcome about it,
// or only failed and dry-run ones.
func (res *Result) check(opt Options, row input.Row, g group) (alive bool) {
	c := g.chosen().outcome
	if row.Invalid == "" && c.Status != revoke.Invalid &&
		(string(c.Kind) != string(row.Kind) || c.Target != row.Target() || c.ConsumerKey != row.ConsumerKey) {
		res.Coverage.OtherTarget.add(row.Line)
		res.attend(Attention{Line: row.Line, Problem: "other_target", Kind: string(row.Kind), Target: row.Target(), ConsumerKey: row.ConsumerKey,
			File: opt.Files[g.entries[0].file], Error: fmt.Sprintf("the outcome of this line is about %s %s, not this row: the outcome file was made from another input", c.Kind, c.Target)})
		return true
	}
	if len(g.entries) > 1 {
		res.Coverage.Conflicts.add(row.Line)
	} else {
		res.Coverage.Covered++
	}
	for _, e := range g.entries {
		if e.outcome.Status != revoke.Failed && e.outcome.Status != revoke.DryRun {
			return false
		}
	}
	return true
}

// count adds a line's outcomes to the tallies and the timeline.
func (res *Result) count(opt Options, g group) {
	c := g.chosen()
	o := c.outcome
	res.Rows++
	res.ByStatus[o.Status]++
	if len(g.entries) > 1 && !res.Coverage.Checked {
		res.Coverage.Conflicts.add(g.line)
	}
	if len(g.entries) > 1 {
		files := ""
		for i, e := range g.entries {
			if i > 0 {
				files += ", "
			}
			files += opt.Files[e.file] + " (" + string(e.outcome.Status) + ")"
		}
		res.attend(Attention{Line: g.line, Problem: "conflict", Kind: string(o.Kind), Target: o.Target, ConsumerKey: o.ConsumerKey,
			File: opt.Files[c.file], Error: "outcomes in more than one file: " + files})
	}
	switch o.Status {
	case revoke.Failed, revoke.Invalid:
		res.attend(Attention{Line: o.Line, Problem: string(o.Status), Kind: string(o.Kind), Target: o.Target, ConsumerKey: o.ConsumerKey,
			Error: o.Error, File: opt.Files[c.file]})
	}
	if t, err := time.Parse(revoke.SettledLayout, o.SettledAt); err == nil {
		if res.FirstSettled.IsZero() || t.Before(res.FirstSettled) {
			res.FirstSettled = t
		}
		if t.After(res.LastSettled) {
			res.LastSettled = t
		}
		if o.Status == revoke.Revoked {
			res.minutes[t.Unix()/60]++
		}
	}
}

func (res *Result) attend(a Attention) {
	res.AttentionRows++
	if len(res.Attention) < maxAttention {
		res.Attention = append(res.Attention, a)
	}
}

// finish sorts what the walk gathered and decides the exit code.
func (res *Result) finish() {
	sort.SliceStable(res.Attention, func(i, j int) bool { return res.Attention[i].Line < res.Attention[j].Line })
	res.timeline()
	res.ExitCode = ExitOK
	if res.Failed() > 0 || res.Coverage.Conflicts.Count > 0 || (res.Coverage.Checked && !res.Coverage.OK()) {
		res.ExitCode = ExitProblems
	}
}

// maxBars bounds the bars of the timeline: a campaign resumed over days is
// drawn in wider buckets rather than as thousands of bars.
const maxBars = 240

// timeline turns the per-minute counts into bars: one a minute, or wider
// when the campaign spans more than maxBars minutes.
func (res *Result) timeline() {
	if len(res.minutes) == 0 {
		return
	}
	keys := make([]int64, 0, len(res.minutes))
	for k := range res.minutes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	first, last := keys[0], keys[len(keys)-1]
	width := int64(1)
	for _, w := range []int64{1, 5, 15, 60, 360, 1440, 10080} {
		width = w
		if (last-first)/w+1 <= maxBars {
			break
		}
	}
	res.BucketWidth = time.Duration(width) * time.Minute
	start := first - first%width
	n := (last-start)/width + 1
	bars := make([]Bucket, n)
	for i := range bars {
		bars[i].Start = time.Unix((start+int64(i)*width)*60, 0).UTC()
	}
	for k, c := range res.minutes {
		bars[(k-start)/width].Count += c
	}
	res.Timeline = bars
}

func openInput(path string, f input.Format, o input.Options) (*input.Reader, func(), error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, &UsageError{fmt.Errorf("--input: %w", err)}
	}
	// A fanned-out row's outcomes are in consumer-key order in the files
	// (journal.Compact, merge): read its targets in that order too.
	o.ConsumerKeys = slices.Clone(o.ConsumerKeys)
	slices.Sort(o.ConsumerKeys)
	r, err := input.OpenOptions(file, f, o)
	if err != nil {
		file.Close()
		return nil, nil, &UsageError{fmt.Errorf("--input %s: %w", path, err)}
	}
	return r, func() { file.Close() }, nil
}
