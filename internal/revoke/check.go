package revoke

import (
	"github.com/bulkrevoke/bulkrevoke/internal/input"
)

// CheckRows returns a Source whose rows that check refuses come out invalid,
// with check's error as the reason. It is how a provider says which rows the
// input accepts but it cannot send (an RFC 7009 endpoint revokes tokens, so a
// user row means nothing to it): such rows are then settled like any invalid
// row, in dry runs too, recorded and never sent. The reason goes into the
// outcome file, so it must hold no secret. A nil check returns src itself.
func CheckRows(src Source, check func(input.Row) error) Source {
	if check == nil {
		return src
	}
	return checkedSource{src: src, check: check}
}

type checkedSource struct {
	src   Source
	check func(input.Row) error
}

func (s checkedSource) Next() (input.Row, error) {
	row, err := s.src.Next()
	if err == nil && row.Invalid == "" {
		if refused := s.check(row); refused != nil {
			row.Invalid = refused.Error()
		}
	}
	return row, err
}
