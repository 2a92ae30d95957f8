//go:build unix && !linux

package cli

import "golang.org/x/sys/unix"

// statfsBytes is the space available to an unprivileged user and the size
// of the filesystem st describes, in bytes; the BSDs count blocks in
// f_bsize, and their f_bavail goes negative once the root reserve is in
// use.
func statfsBytes(st *unix.Statfs_t) (free, total uint64) {
	unit := uint64(st.Bsize)
	return uint64(max(int64(st.Bavail), 0)) * unit, uint64(st.Blocks) * unit
}
