package cli

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// flagAliases are names operators type from other tools, and the flag of
// ours that does what they meant.
var flagAliases = map[string]string{
	"o":           "out",
	"output":      "out",
	"outfile":     "out",
	"output-file": "out",
	"i":           "input",
	"in":          "input",
	"file":        "input",
	"v":           "log-level",
	"verbose":     "log-level",
	"debug":       "log-level",
	"quiet":       "log-level",
	"q":           "log-level",
	"config":      "job",
	"c":           "job",
	"dryrun":      "dry-run",
	"n":           "dry-run",
	"token":       "admin-token-file",
	"admin-token": "admin-token-file",
	"url":         "base-url",
	"parallel":    "concurrency",
	"workers":     "concurrency",
	"j":           "concurrency",
	"retries":     "max-attempts",
}

const undefinedFlag = "flag provided but not defined: -"

// withSuggestion turns the flag package's "flag provided but not defined"
// into a message that names the flag as typed and the flag that was most
// likely meant.
func withSuggestion(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, undefinedFlag) {
		return err
	}
	name := strings.TrimPrefix(msg, undefinedFlag)
	// The flag package drops one dash; show the flag as it was most
	// likely typed: -o, --output.
	typed := "--" + name
	if len(name) == 1 {
		typed = "-" + name
	}
	if s := suggestFlag(fs, name); s != "" {
		return fmt.Errorf("flag %s is not defined: did you mean --%s? (bulkrevoke run -h lists the flags)", typed, s)
	}
	return fmt.Errorf("flag %s is not defined (bulkrevoke run -h lists the flags)", typed)
}

// suggestFlag returns the defined flag closest to name: a known alias, a
// flag that name is a prefix of, or one within a small edit distance; ""
// when nothing is close.
func suggestFlag(fs *flag.FlagSet, name string) string {
	name = strings.ToLower(strings.TrimLeft(name, "-"))
	name = strings.ReplaceAll(name, "_", "-")
	if a, ok := flagAliases[name]; ok && fs.Lookup(a) != nil {
		return a
	}
	if fs.Lookup(name) != nil {
		return name // --Out or --max_attempts
	}
	best, bestDist := "", 0
	consider := func(candidate, flagName string) {
		d := editDistance(name, candidate)
		if len(name) >= 3 && strings.HasPrefix(candidate, name) {
			d = min(d, 1)
		}
		if best == "" || d < bestDist || (d == bestDist && flagName < best) {
			best, bestDist = flagName, d
		}
	}
	fs.VisitAll(func(f *flag.Flag) { consider(f.Name, f.Name) })
	// A misspelt alias (--outptu) means the alias's flag.
	for alias, flagName := range flagAliases {
		if len(alias) > 2 && fs.Lookup(flagName) != nil {
			consider(alias, flagName)
		}
	}
	// Within a third of the name, and never a guess for a one-letter name.
	if best == "" || len(name) < 2 || bestDist > max(1, len(name)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// defaultName is the run's name when --name is not given: the job file's
// base name without its extension (jobs/nightly.yaml: nightly), else
// bulkrevoke.
func defaultName(jobPath string) string {
	if jobPath == "" {
		return "bulkrevoke"
	}
	base := filepath.Base(jobPath)
	if n := strings.TrimSuffix(base, filepath.Ext(base)); n != "" && n != "." {
		return n
	}
	return "bulkrevoke"
}

// checkName refuses a name that would make a poor label value or path
// segment at the Pushgateway.
func checkName(name string) error {
	if name == "" || len(name) > 128 {
		return usagef("--name %q: want 1 to 128 characters", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return usagef("--name %q: want no spaces or control characters", name)
		}
	}
	return nil
}
