package journal

import (
	"fmt"
	"io"

	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// NewEncoder writes outcomes to w exactly as an outcome file of the given
// format holds them, header first for CSV: for files written whole through
// WriteAtomic (a merged report) and for printing rows. name is used in
// error messages. Its Write is the Writer's; Sync and Close are not for it.
func NewEncoder(w io.Writer, name string, format Format) (*Writer, error) {
	e := newEncoder(w, name, format)
	if err := e.writeHeader(); err != nil {
		return nil, err
	}
	return e, nil
}

// EncodeRow writes one outcome as a single line of the given format, without
// a header: how a tool prints a row it found.
func EncodeRow(w io.Writer, format Format, o revoke.Outcome) error {
	e := newEncoder(w, "output", format)
	if err := e.Write(o); err != nil {
		return fmt.Errorf("print outcome: %w", err)
	}
	return nil
}

// EncodeHeader writes the header line of the format (CSV; JSONL has none).
func EncodeHeader(w io.Writer, format Format) error {
	return newEncoder(w, "output", format).writeHeader()
}
