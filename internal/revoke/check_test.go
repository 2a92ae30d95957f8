package revoke_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// listSource is a Source over a fixed slice.
type listSource []input.Row

func (s *listSource) Next() (input.Row, error) {
	if len(*s) == 0 {
		return input.Row{}, io.EOF
	}
	row := (*s)[0]
	*s = (*s)[1:]
	return row, nil
}

// tokensOnly is a provider's rule as RFC 7009 has it.
func tokensOnly(row input.Row) error {
	if row.Kind != input.KindToken {
		return errors.New("this provider revokes tokens only")
	}
	return nil
}

func TestCheckRowsSettlesRefusedRowsAsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dryRun bool
		check  func(input.Row) error
		want   map[int64]revoke.Status
		reason map[int64]string
		sent   []string // targets that reached the provider
	}{
		{
			name:  "refused rows are invalid and never sent",
			check: tokensOnly,
			want: map[int64]revoke.Status{
				2: revoke.Revoked, 3: revoke.Invalid, 4: revoke.Invalid, 5: revoke.Duplicate, 6: revoke.Invalid,
			},
			reason: map[int64]string{3: "this provider revokes tokens only", 4: "this provider revokes tokens only", 6: "row was broken"},
			sent:   []string{"tok-1"},
		},
		{
			name:   "dry run applies the rule too",
			dryRun: true,
			check:  tokensOnly,
			want: map[int64]revoke.Status{
				2: revoke.DryRun, 3: revoke.Invalid, 4: revoke.Invalid, 5: revoke.Duplicate, 6: revoke.Invalid,
			},
			reason: map[int64]string{3: "this provider revokes tokens only", 6: "row was broken"},
		},
		{
			name:  "no rule: every valid row is sent",
			check: nil,
			want: map[int64]revoke.Status{
				2: revoke.Revoked, 3: revoke.Revoked, 4: revoke.Duplicate, 5: revoke.Duplicate, 6: revoke.Invalid,
			},
			sent: []string{"ann", "tok-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := listSource{
				{Line: 2, Kind: input.KindToken, Token: "tok-1"},
				{Line: 3, Kind: input.KindUser, User: "ann", ConsumerKey: "ck"},
				// The same user again: refused rows are not remembered for
				// de-duplication, so it is refused again, not a duplicate.
				{Line: 4, Kind: input.KindUser, User: "ann", ConsumerKey: "ck"},
				{Line: 5, Kind: input.KindToken, Token: "tok-1"},
				// The reader's own reason wins: the check never sees it.
				{Line: 6, Kind: input.KindUser, Invalid: "row was broken"},
			}
			var mu sync.Mutex
			var sent []string
			pool := revoke.New(revoke.Config{
				DryRun: tt.dryRun,
				Revoker: &fakeRevoker{func(_ context.Context, row input.Row) revoke.Answer {
					mu.Lock()
					defer mu.Unlock()
					sent = append(sent, row.Token+row.User)
					return revoke.Answer{Status: revoke.Revoked, HTTPStatus: 200}
				}},
			})
			got := map[int64]revoke.Outcome{}
			err := pool.Run(context.Background(), revoke.CheckRows(&src, tt.check), func(o revoke.Outcome) error {
				got[o.Line] = o
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("%d outcomes, want %d", len(got), len(tt.want))
			}
			for line, st := range tt.want {
				if got[line].Status != st {
					t.Errorf("line %d: %s, want %s", line, got[line].Status, st)
				}
			}
			for line, reason := range tt.reason {
				if got[line].Error != reason {
					t.Errorf("line %d: reason %q, want %q", line, got[line].Error, reason)
				}
			}
			if got[3].Kind != input.KindUser || got[3].Target != "ann" {
				t.Errorf("line 3 outcome %+v: the refused row must still say what it was", got[3])
			}
			sort.Strings(sent)
			if !slices.Equal(sent, tt.sent) {
				t.Errorf("sent %v, want %v", sent, tt.sent)
			}
		})
	}
}
