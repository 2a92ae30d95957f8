package cli

import "golang.org/x/sys/unix"

// statfsBytes is the space available to an unprivileged user and the size
// of the filesystem st describes, in bytes. Linux counts blocks in the
// fragment size, which it sets to the block size where a filesystem has no
// fragments.
func statfsBytes(st *unix.Statfs_t) (free, total uint64) {
	unit := uint64(st.Bsize)
	if st.Frsize > 0 {
		unit = uint64(st.Frsize)
	}
	return st.Bavail * unit, st.Blocks * unit
}
