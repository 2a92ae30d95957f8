//go:build unix

package progress

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// terminalColumns is the width w reports when it is a terminal, and -1 when
// it is not one or cannot say.
func terminalColumns(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return -1
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return -1
	}
	return int(ws.Col)
}
