package journal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

const (
	goodCSV   = "2,user,vicky,k,revoked,200,1,,c1,42,2026-12-01T22:30:00.123Z,r1\n"
	goodJSONL = `{"line":2,"kind":"user","target":"vicky","consumer_key":"k","status":"revoked","http_status":200,"attempts":1,"error":"","correlation_id":"c1","duration_ms":42,"settled_at":"2026-12-01T22:30:00.123Z","run_id":"r1"}` + "\n"
)

func TestReadJournalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		content string
		want    []string // substrings of the error, besides the path
	}{
		{name: "csv header too short", file: "o.csv", content: "line,kind,target\n" + goodCSV, want: []string{"line 1"}},
		{name: "csv header renamed column", file: "o.csv", content: strings.Replace(csvHeader, "duration_ms", "duration", 1) + goodCSV, want: []string{"line 1", "header"}},
		{name: "csv input file given by mistake", file: "o.csv", content: "kind,token,user,consumer_key,a,b,c,d,e,f\n", want: []string{"line 1", "header"}},
		{name: "csv corrupted middle line", file: "o.csv", content: csvHeader + goodCSV + "3,user,bob\n" + goodCSV, want: []string{"line 3", "wrong number of fields"}},
		{name: "csv unknown status", file: "o.csv", content: csvHeader + goodCSV + strings.Replace(goodCSV, "revoked", "exploded", 1), want: []string{"line 3", `unknown status "exploded"`}},
		{name: "csv non-numeric attempts", file: "o.csv", content: csvHeader + strings.Replace(goodCSV, ",1,", ",one,", 1), want: []string{"line 2", "attempts"}},
		{name: "csv negative duration", file: "o.csv", content: csvHeader + strings.Replace(goodCSV, ",42", ",-42", 1), want: []string{"line 2", "duration_ms"}},
		{name: "csv settled_at not RFC 3339", file: "o.csv", content: csvHeader + strings.Replace(goodCSV, "2026-12-01T22:30:00.123Z", "yesterday", 1), want: []string{"line 2", "settled_at"}},
		{name: "csv settled_at not UTC", file: "o.csv", content: csvHeader + strings.Replace(goodCSV, "22:30:00.123Z", "22:30:00.123+01:00", 1), want: []string{"line 2", "settled_at"}},
		{name: "csv old ten-column header", file: "o.csv", content: "line,kind,target,consumer_key,status,http_status,attempts,error,correlation_id,duration_ms\n2,user,vicky,k,revoked,200,1,,c1,42\n", want: []string{"line 1"}},
		{name: "jsonl settled_at without milliseconds", file: "o.jsonl", content: strings.Replace(goodJSONL, "22:30:00.123Z", "22:30:00Z", 1), want: []string{"line 1", "settled_at"}},
		{name: "csv line zero", file: "o.csv", content: csvHeader + "0" + goodCSV[1:], want: []string{"line 2", ">= 1"}},
		{name: "csv bare quote", file: "o.csv", content: csvHeader + goodCSV + `3,user,bo"b,k,revoked,200,1,,c1,42,2026-12-01T22:30:00.123Z,r1` + "\n", want: []string{"line 3"}},
		{name: "csv line counted after blank lines", file: "o.csv", content: csvHeader + "\n\n" + strings.Replace(goodCSV, "200", "2xx", 1), want: []string{"line 4", "http_status"}},
		{name: "jsonl bad json middle line", file: "o.jsonl", content: goodJSONL + `{"line":3,` + "\n" + goodJSONL, want: []string{"line 2"}},
		{name: "jsonl unknown status", file: "o.jsonl", content: strings.Replace(goodJSONL, "revoked", "exploded", 1), want: []string{"line 1", `unknown status "exploded"`}},
		{name: "jsonl string number", file: "o.jsonl", content: goodJSONL + strings.Replace(goodJSONL, "200", `"200"`, 1), want: []string{"line 2", "http_status"}},
		{name: "jsonl missing line", file: "o.jsonl", content: `{"kind":"user","status":"revoked"}` + "\n", want: []string{"line 1", ">= 1"}},
		{name: "jsonl trailing garbage", file: "o.jsonl", content: strings.TrimSuffix(goodJSONL, "\n") + " x\n", want: []string{"line 1"}},
		{name: "jsonl input file given by mistake", file: "o.jsonl", content: `{"token":"s3cret"}` + "\n", want: []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path, func(revoke.Outcome) error { return nil })
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			for _, s := range append(tt.want, path) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestReadJournalTorn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string
		content  string
		wantRows int
		wantTorn bool
	}{
		{name: "csv complete", file: "o.csv", content: csvHeader + goodCSV + goodCSV, wantRows: 2},
		{name: "csv torn record", file: "o.csv", content: csvHeader + goodCSV + "3,user,vic", wantRows: 1, wantTorn: true},
		{name: "csv torn inside quotes", file: "o.csv", content: csvHeader + goodCSV + `3,user,"vicky, j`, wantRows: 1, wantTorn: true},
		{name: "csv whole record without newline", file: "o.csv", content: csvHeader + goodCSV + strings.TrimSuffix(goodCSV, "\n"), wantRows: 1, wantTorn: true},
		{name: "csv torn header", file: "o.csv", content: "line,ki", wantTorn: true},
		{name: "csv empty", file: "o.csv", content: ""},
		{name: "csv header only", file: "o.csv", content: csvHeader},
		{name: "csv crlf", file: "o.csv", content: strings.ReplaceAll(csvHeader+goodCSV, "\n", "\r\n"), wantRows: 1},
		{name: "jsonl complete", file: "o.jsonl", content: goodJSONL + "\n" + goodJSONL, wantRows: 2},
		{name: "jsonl torn", file: "o.jsonl", content: goodJSONL + `{"line":3,"ki`, wantRows: 1, wantTorn: true},
		{name: "jsonl torn after cr", file: "o.jsonl", content: goodJSONL + "\r", wantRows: 1, wantTorn: true},
		{name: "jsonl crlf", file: "o.jsonl", content: strings.ReplaceAll(goodJSONL, "\n", "\r\n"), wantRows: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, torn := readOutcomes(t, path)
			if torn != tt.wantTorn {
				t.Errorf("torn = %v, want %v", torn, tt.wantTorn)
			}
			if len(got) != tt.wantRows {
				t.Fatalf("read %d outcomes, want %d", len(got), tt.wantRows)
			}
			want := outcome(2, revoke.Revoked, "")
			want.ConsumerKey, want.CorrelationID = "k", "c1"
			for _, o := range got {
				if o != want {
					t.Errorf("outcome = %#v, want %#v", o, want)
				}
			}
		})
	}
}

func TestReadJournalStopsOnCallerError(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext[1:], func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out"+ext)
			writeOutcomes(t, path, sample...)
			stop := errors.New("stop")
			var seen []int64
			_, err := Read(path, func(o revoke.Outcome) error {
				seen = append(seen, o.Line)
				if len(seen) == 2 {
					return stop
				}
				return nil
			})
			if err != stop {
				t.Fatalf("Read = %v, want the caller's error as is", err)
			}
			if !slices.Equal(seen, []int64{2, 3}) {
				t.Fatalf("saw lines %v, want [2 3] then stop", seen)
			}
		})
	}
}

func TestReadJournalMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.csv")
	_, err := Read(path, func(revoke.Outcome) error { return nil })
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read = %v, want a not-exist error naming the file", err)
	}
}
