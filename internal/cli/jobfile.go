package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/bulkrevoke/bulkrevoke/internal/ownfile"
)

// applyJobFile sets flags from a YAML job file whose keys are the flag names
// (base-url, rate, out, ...) plus "input". It returns the input path.
//
// Secrets never live in a job file: there is no key for the admin token,
// only admin-token-file; a key that names no flag is an error, and so is a
// key given twice (which of the two was meant?).
//
// A job file is flags written down, and its values mean what they would mean
// on the command line: a relative path (input, out, admin-token-file) is
// relative to the working directory, not to the job file. In the container
// that is /data, the volume, so "out: outcomes.csv" lands on the volume;
// from cron, whose working directory is $HOME, use absolute paths.
//
// A job file is one YAML document. A second one (after a "---" line) that
// holds anything is refused, naming its line: settings in it would otherwise
// be silently ignored, a "dry-run: true" among them. A "---" followed by
// nothing (or only comments) is an empty document and harmless: it sets
// nothing and is accepted.
func applyJobFile(fs *flag.FlagSet, path string) (inputPath string, err error) {
	b, err := readJobFile(path)
	if err != nil {
		return "", err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return "", nil // an empty job file sets nothing
		}
		return "", fmt.Errorf("job file %s: %w", path, err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("job file %s: %w", path, err)
		}
		if !emptyDocument(&next) {
			return "", fmt.Errorf("job file %s: line %d: a second YAML document (after ---): a job file is exactly one document; put every setting in the first", path, next.Line)
		}
	}
	if len(doc.Content) == 0 || emptyDocument(&doc) {
		return "", nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return "", fmt.Errorf("job file %s: line %d: want a mapping of setting: value", path, root.Line)
	}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if line, dup := firstLine[key.Value]; dup {
			return "", fmt.Errorf("job file %s: line %d: %s is already set on line %d", path, key.Line, key.Value, line)
		}
		firstLine[key.Value] = key.Line
		if val.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("job file %s: line %d: %s: want a single value", path, key.Line, key.Value)
		}
		switch key.Value {
		case "input":
			inputPath = val.Value
			continue
		case "job":
			return "", fmt.Errorf("job file %s: line %d: a job file cannot name another job file", path, key.Line)
		}
		if refusal := jobSecretRefusal(key.Value); refusal != "" {
			return "", fmt.Errorf("job file %s: line %d: %s: %s", path, key.Line, key.Value, refusal)
		}
		if fs.Lookup(key.Value) == nil {
			return "", fmt.Errorf("job file %s: line %d: unknown setting %q (settings are the flag names of bulkrevoke run -h, and input)", path, key.Line, key.Value)
		}
		v := val.Value
		if val.Tag == "!!null" {
			v = ""
		}
		if err := fs.Set(key.Value, v); err != nil {
			return "", fmt.Errorf("job file %s: line %d: %s: %w", path, key.Line, key.Value, err)
		}
	}
	return inputPath, nil
}

// emptyDocument reports whether a YAML document holds nothing: "---" with
// no value under it (an explicit ~, or an empty quoted string, is a value).
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Style == 0
}

// maxJobFileBytes bounds a job file: real ones are a few kilobytes.
const maxJobFileBytes = 1 << 20

// readJobFile reads a job file: a regular file (a symbolic link to one is
// fine), at most maxJobFileBytes, without blocking on a FIFO.
func readJobFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("job file %s: want a regular file, not %s", path, ownfile.ModeText(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxJobFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	if len(b) > maxJobFileBytes {
		return nil, fmt.Errorf("job file %s: larger than %d KiB, which no job file is", path, maxJobFileBytes>>10)
	}
	return b, nil
}
