package input

// Seen is the set of row Keys already read, for de-duplication. It holds
// 16-byte hashes, never the targets themselves, so a run over millions of
// rows costs a few tens of megabytes and no secret stays in memory through
// it. It is not safe for concurrent use: de-duplicate where rows are read.
type Seen struct {
	keys map[[16]byte]struct{}
}

// NewSeen returns an empty set.
func NewSeen() *Seen {
	return &Seen{keys: make(map[[16]byte]struct{})}
}

// Add records k and reports whether it was already present.
func (s *Seen) Add(k [16]byte) (dup bool) {
	if _, dup = s.keys[k]; !dup {
		s.keys[k] = struct{}{}
	}
	return dup
}
