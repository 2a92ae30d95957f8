//go:build !unix

package progress

import "io"

// terminalColumns cannot tell here; mpb asks the terminal itself.
func terminalColumns(io.Writer) int { return -1 }
