package concur

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// ProbePrefix starts every probe token, so that Concur's support can tell a
// probe from a real revocation in its logs.
const ProbePrefix = "bulkrevoke-probe-"

var _ revoke.Prober = (*Client)(nil)

// Probe tells whether Concur still accepts the administrator token, after a
// 403 that may be about it or about one row. It revokes a token made of 256
// fresh random bits, which no one holds and no one ever will, through the
// same endpoint and header as every row: Concur then answers about that
// token (revoked, or unknown: proof that the token was accepted) or refuses
// the administrator again (401, 403). A probe never names a user, since a
// user row revokes every token of a real login.
func (c *Client) Probe(ctx context.Context) revoke.Answer {
	ans := c.Revoke(ctx, input.Row{Kind: input.KindToken, Token: ProbePrefix + rand.Text() + rand.Text()})
	if ans.Fatal || ans.Suspect {
		ans.Err = fmt.Errorf("Concur refused the administrator token: expired, revoked, or lacking the Web Services Administrator role: %w", ans.Err)
	}
	return ans
}
