package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// textAttention is how many rows to look at the text report lists.
const textAttention = 10

// WriteText prints the report for a person: the table of rows by status,
// as at the end of a run, then the coverage verdict and the first rows to
// look at.
func WriteText(w io.Writer, res *Result) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "bulkrevoke report over %s (exit code %d)\n", plural(int64(len(res.Files)), "outcome file"), res.ExitCode)
	for _, s := range revoke.Statuses() {
		fmt.Fprintf(&b, "  %-10s %10d\n", s, res.ByStatus[s])
	}
	fmt.Fprintf(&b, "  %-10s %10d", "rows", res.Rows)
	if res.Coverage.Checked {
		fmt.Fprintf(&b, " of %d in the input", res.Coverage.InputRows)
	}
	b.WriteString("\n")
	if res.Sandbox {
		b.WriteString("Sandbox: some outcomes come from the --sandbox simulator and prove nothing about a real instance.\n")
	}
	fmt.Fprintf(&b, "Coverage: %s\n", res.Coverage.Verdict())
	if res.AttentionRows > 0 {
		fmt.Fprintf(&b, "Needs attention: %s", plural(res.AttentionRows, "row"))
		if res.AttentionRows > textAttention {
			fmt.Fprintf(&b, " (the first %d below)", textAttention)
		}
		b.WriteString("\n")
		for i, a := range res.Attention {
			if i == textAttention {
				break
			}
			fmt.Fprintf(&b, "  line %-8d %-12s %s %s", a.Line, a.Problem, safe(a.Kind), safe(a.Target))
			if a.ConsumerKey != "" {
				fmt.Fprintf(&b, " %s", safe(a.ConsumerKey))
			}
			if a.Error != "" {
				fmt.Fprintf(&b, ": %s", safe(cut(a.Error, 200)))
			}
			b.WriteString("\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Verdict says in one sentence whether the files cover the input.
func (c Coverage) Verdict() string {
	if !c.Checked {
		return "not checked: give --input to check that the files cover it"
	}
	if c.OK() {
		return fmt.Sprintf("every one of the %d input rows has exactly one outcome", c.InputRows)
	}
	var parts []string
	add := func(p Problem, what string) {
		if p.Count > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", plural(p.Count, "line"), what, lineList(p)))
		}
	}
	add(c.Missing, "without an outcome")
	add(c.Conflicts, "with outcomes in more than one file")
	add(c.OtherTarget, "whose outcome names another target")
	add(c.NotInInput, "with an outcome but no input row")
	return "NOT COVERED: " + strings.Join(parts, "; ")
}

func lineList(p Problem) string {
	s := make([]string, len(p.Lines))
	for i, l := range p.Lines {
		s[i] = strconv.FormatInt(l, 10)
	}
	out := "line"
	if len(s) > 1 {
		out = "lines"
	}
	out += " " + strings.Join(s, ", ")
	if p.Count > int64(len(p.Lines)) {
		out += ", …"
	}
	return out
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.FormatInt(n, 10) + " " + what + "s"
}

// safe makes text from a file fit to print on a terminal: anything that is
// not a printable character is shown quoted with escapes.
func safe(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// cut shortens s to at most n runes. Texts here were redacted when they
// were recorded.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// Summary is the --summary document of a report: the combined counts of
// every file, the coverage verdict, and every run recorded in the sidecars.
type Summary struct {
	Version   string       `json:"version"`
	Created   time.Time    `json:"created"`
	Files     []FileReport `json:"files"`
	InputRows int64        `json:"input_rows"` // -1 without --input
	Done      int64        `json:"done"`       // distinct lines across the files
	Revoked   int64        `json:"revoked"`
	NotFound  int64        `json:"not_found"`
	Failed    int64        `json:"failed"`
	Invalid   int64        `json:"invalid"`
	Duplicate int64        `json:"duplicate"`
	DryRun    int64        `json:"dry_run"`
	Coverage  Coverage     `json:"coverage"`
	// Covered is the verdict: the files cover the input exactly.
	Covered       bool  `json:"covered"`
	AttentionRows int64 `json:"attention_rows"`
	// FirstStarted is when the campaign began: the earliest of the files'
	// campaign starts (CampaignStart) in the sidecars.
	FirstStarted time.Time `json:"first_started,omitzero"`
	FirstSettled time.Time `json:"first_settled,omitzero"`
	LastSettled  time.Time `json:"last_settled,omitzero"`
	Sandbox      bool      `json:"sandbox"`
	Unrevoked    int64     `json:"unrevoked_rows"`
	ExitCode     int       `json:"exit_code"`
	Runs         []FileRun `json:"runs"`
}

// FileRun is a run and the outcome file it ran on.
type FileRun struct {
	File string `json:"file"`
	Run
}

// Runs lists every run of every file's sidecar, in the order they started.
func (res *Result) Runs() []FileRun {
	var out []FileRun
	for _, f := range res.Files {
		if f.Sidecar == nil {
			continue
		}
		for _, r := range f.Sidecar.Runs {
			out = append(out, FileRun{File: f.Path, Run: r})
		}
	}
	// Stable, by start: the order of files breaks ties.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Started.Before(out[j-1].Started); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// MakeSummary builds the --summary document.
func MakeSummary(res *Result) Summary {
	s := Summary{
		Version: res.Version, Created: res.Created, Files: res.Files, InputRows: -1, Done: res.Rows,
		Revoked: res.ByStatus[revoke.Revoked], NotFound: res.ByStatus[revoke.NotFound], Failed: res.ByStatus[revoke.Failed],
		Invalid: res.ByStatus[revoke.Invalid], Duplicate: res.ByStatus[revoke.Duplicate], DryRun: res.ByStatus[revoke.DryRun],
		Coverage: res.Coverage, Covered: res.Coverage.OK(), AttentionRows: res.AttentionRows,
		FirstSettled: res.FirstSettled, LastSettled: res.LastSettled, Sandbox: res.Sandbox,
		Unrevoked: res.Unrevoked, ExitCode: res.ExitCode, Runs: res.Runs(),
	}
	if s.Runs == nil {
		s.Runs = []FileRun{}
	}
	if res.Coverage.Checked {
		s.InputRows = res.Coverage.InputRows
	}
	for _, f := range res.Files {
		if f.Sidecar == nil {
			continue
		}
		if c := CampaignStart(f.Sidecar.Runs); !c.IsZero() && (s.FirstStarted.IsZero() || c.Before(s.FirstStarted)) {
			s.FirstStarted = c
		}
	}
	return s
}

func writeSummary(path string, res *Result) error {
	err := ownfile.WriteAtomic(path, 0o600, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(MakeSummary(res))
	})
	if err != nil {
		return fmt.Errorf("write --summary %s: %w", path, err)
	}
	return nil
}
