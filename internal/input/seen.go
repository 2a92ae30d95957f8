package input

import "math"

// Seen is the set of row Keys already read, for de-duplication, each with
// the line it was first read on, so that a duplicate can name the line it
// repeats. It holds 16-byte hashes, never the targets themselves, so a run
// over millions of rows costs a few tens of megabytes and no secret stays in
// memory through it. It is not safe for concurrent use: de-duplicate where
// rows are read.
//
// The line is kept in 32 bits: over ten million keys that costs about 5
// bytes a row more than the set alone (36 against 30, BenchmarkSeen), where
// 64 bits cost 14. A line past 2^32-1 is kept as 0, "a line not known".
type Seen struct {
	keys map[[16]byte]uint32
}

// NewSeen returns an empty set.
func NewSeen() *Seen {
	return &Seen{keys: make(map[[16]byte]uint32)}
}

// Add records k as read on line and reports whether it was already present;
// first is then the line it was first read on, 0 if that line is past
// 2^32-1.
func (s *Seen) Add(k [16]byte, line int64) (first int64, dup bool) {
	f, dup := s.keys[k]
	if !dup {
		if line < 0 || line > math.MaxUint32 {
			line = 0
		}
		s.keys[k] = uint32(line)
	}
	return int64(f), dup
}
