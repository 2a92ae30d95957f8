package input

// Seen is the set of row Keys already read, for de-duplication, each with
// the line it was first read on, so that a duplicate can name the line it
// repeats. It holds 16-byte hashes, never the targets themselves, so a run
// over millions of rows costs a few tens of megabytes and no secret stays in
// memory through it. It is not safe for concurrent use: de-duplicate where
// rows are read.
type Seen struct {
	keys map[[16]byte]int64
}

// NewSeen returns an empty set.
func NewSeen() *Seen {
	return &Seen{keys: make(map[[16]byte]int64)}
}

// Add records k as read on line and reports whether it was already present;
// first is then the line it was first read on.
func (s *Seen) Add(k [16]byte, line int64) (first int64, dup bool) {
	if first, dup = s.keys[k]; !dup {
		s.keys[k] = line
	}
	return first, dup
}
