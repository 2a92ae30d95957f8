package cli

import (
	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/revoke"
)

// shardRows narrows the input to the rows of one shard (--shard). The
// filter stands before the pool, so the pool still sees every row it owns in
// file order and de-duplicates them as usual: a duplicate always falls into
// its original's shard.
func shardRows(src *input.Reader, s input.Shard) revoke.Source {
	if s.Whole() {
		return src
	}
	return input.NewShardReader(src, s)
}
