package audit

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// The page is one file with nothing to fetch: incident machines are often
// offline, and a record must read the same in ten years. Its CSS is in the
// page, its chart is inline SVG, and it has no script. Every value is put
// in by html/template, so text from the files (user IDs, a server's words)
// is escaped, never markup. Tokens appear only as the fingerprints the
// outcome files hold.
//
//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": func(s []string) string { return strings.Join(s, " ") },
	"exit": func(p *int) string {
		if p == nil {
			return "— (killed)"
		}
		return fmt.Sprint(*p)
	},
}).Parse(pageText))

// chart is the timeline's geometry, worked out here so that the template
// only places numbers.
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int64
	Title         string
	From, To      string
}

type bar struct {
	X, Y, W, H float64
	Label      string
}

const chartWidth, chartHeight = 720, 160

func makeChart(res *Result) *chart {
	if len(res.Timeline) == 0 {
		return nil
	}
	c := &chart{Width: chartWidth, Height: chartHeight}
	for _, b := range res.Timeline {
		c.Max = max(c.Max, b.Count)
	}
	w := float64(chartWidth) / float64(len(res.Timeline))
	for i, b := range res.Timeline {
		h := float64(chartHeight-20) * float64(b.Count) / float64(max(c.Max, 1))
		c.Bars = append(c.Bars, bar{
			X: float64(i) * w, Y: float64(chartHeight-20) - h, W: max(w-1, 0.5), H: h,
			Label: fmt.Sprintf("%s: %d revoked", b.Start.Format("2006-01-02 15:04Z"), b.Count),
		})
	}
	c.Title = "Revocations per minute"
	if res.BucketWidth > time.Minute {
		c.Title = fmt.Sprintf("Revocations per %s", shortDuration(res.BucketWidth))
	}
	c.From = res.Timeline[0].Start.Format("2006-01-02 15:04Z")
	last := res.Timeline[len(res.Timeline)-1]
	c.To = last.Start.Add(res.BucketWidth).Format("2006-01-02 15:04Z")
	return c
}

func shortDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

type statusCount struct {
	Status string
	Count  int64
}

// WriteHTML writes the incident record page.
func WriteHTML(w io.Writer, res *Result) error {
	var counts []statusCount
	for _, s := range revoke.Statuses() {
		counts = append(counts, statusCount{string(s), res.ByStatus[s]})
	}
	return page.Execute(w, struct {
		R       *Result
		S       Summary
		Counts  []statusCount
		Chart   *chart
		Verdict string
		More    int64
	}{res, MakeSummary(res), counts, makeChart(res), res.Coverage.Verdict(), res.AttentionRows - int64(len(res.Attention))})
}
