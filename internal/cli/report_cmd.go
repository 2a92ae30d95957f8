package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bulkrevoke/bulkrevoke/internal/audit"
)

const reportUsage = `Usage: bulkrevoke report [flags] OUTCOME...

Reads one or more outcome files (a run's shards, or the files of several
runs), prints a table of rows by status, and with --input checks that every
data row of the input has exactly one outcome across them.

Exit code: 0 when every row is covered (with --input) and none failed; 1
when a row failed, or a row has no outcome, two, or one about another
target; 2 for an unusable file or flag.

Flags:
`

const lookupUsage = `Usage: bulkrevoke lookup OUTCOME... < QUERIES

Reads tokens, or user,consumerKey pairs, one per line on standard input
(never on the command line: a token there would be in the shell's history
and in ps), and prints every outcome row about each, or "no outcome".
Tokens are matched by fingerprint and never printed.

Output, one line per row found: QUERY<TAB>FILE<TAB>ROW, the row as in a
CSV outcome file (its header on the first line, after "# query file").
Exit code: 0 when every query has a row, 1 when one has none, 2 for an
unusable file.
`

// runReport is `bulkrevoke report`.
func runReport(args []string, stdout, stderr io.Writer) error {
	var opt audit.Options
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reportUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&opt.Input, "input", "", "the input file the outcome files were made from: check that they cover it")
	fs.StringVar(&opt.Out, "out", "", "write the merged outcome file here: one row per line, sorted, mode 0600")
	fs.StringVar(&opt.Unrevoked, "unrevoked", "", "write here, in the input's format, the input rows copied verbatim whose outcome is failed, dry_run or missing (needs --input; mode 0600: it holds live tokens)")
	fs.StringVar(&opt.Summary, "summary", "", "write the combined summary here (JSON)")
	fs.StringVar(&opt.HTML, "html", "", "write a self-contained HTML page for the incident record here")
	fs.BoolVar(&opt.Force, "force", false, "replace output files that exist")
	// How the run read --input, so that the report reads the same targets.
	var cfg Config
	var raw flagValues
	addColumnFlags(fs, &cfg, &raw)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if err := cfg.completeRows(raw); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	opt.Rows = cfg.Rows
	opt.Files = fs.Args()
	opt.Version = Version()
	if len(opt.Files) == 0 {
		fs.Usage()
		return usagef("report: give one or more outcome files")
	}
	res, err := audit.Report(opt)
	if err != nil {
		return &usageError{fmt.Errorf("report: %w", err)}
	}
	if err := audit.WriteText(stdout, res); err != nil {
		return err
	}
	if res.ExitCode != audit.ExitOK {
		return errRows
	}
	return nil
}

// runLookup is `bulkrevoke lookup`.
func runLookup(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), lookupUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return usagef("lookup: give one or more outcome files; the tokens come on standard input")
	}
	qs, err := audit.ParseQueries(stdin)
	if err != nil {
		return &usageError{fmt.Errorf("lookup: %w", err)}
	}
	found, err := audit.Lookup(files, qs)
	if err != nil {
		return &usageError{fmt.Errorf("lookup: %w", err)}
	}
	missing, err := audit.WriteLookup(stdout, qs, found)
	if err != nil {
		return err
	}
	if missing > 0 {
		return errRows
	}
	return nil
}
