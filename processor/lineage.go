package processor

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Partitions that end: a Kinesis shard is closed by a split or a merge, and
// its children carry its keys on. The host reads a closed partition to its
// end, records it finished, and only then starts its children, so the
// events of one key stay in order across the lineage and none is skipped.
//
//  1. A Receiver returns ErrEndOfPartition (after every event) when its
//     partition has ended.
//  2. The host calls Processor.Close with Finished. If the processor
//     checkpointed the last event it was given (in Process or in Close), the
//     host writes the checkpoint EndOfPartition under its lease, then
//     releases the lease. If it did not, the partition is released
//     unfinished, and whoever takes it next reads it again from its
//     checkpoint (at least once, never skipped).
//  3. A finished partition is no longer balanced: no host claims it, and it
//     does not count in anyone's fair share.
//  4. A partition whose parents (LineageSource) are not all finished is not
//     balanced either until they are. Each host reads those parents' records
//     every cycle while it waits (a request per parent it does not own), to
//     see them marked.
//  5. A partition the LineageSource no longer lists has aged out of the
//     stream: it is not balanced, a host processing it hands it back, and
//     as a parent it no longer holds its children back (what it held is
//     gone; a warning names it).
//
// The finished mark is an ordinary checkpoint, visible to operators
// (`tidemark ls` shows offset @end); setting an earlier checkpoint on it
// with the CLI makes the host read the partition again.

// EndOfPartition is the checkpoint offset of a partition that ended and was
// processed to its end. Sources never see it: a finished partition is not
// opened.
const EndOfPartition = "@end"

// ErrEndOfPartition is returned by Receiver.Receive when the partition has
// ended (a closed Kinesis shard) and every one of its events was returned.
var ErrEndOfPartition = errors.New("processor: end of partition")

// PartitionInfo is a partition and the partitions it continues.
type PartitionInfo struct {
	ID string
	// Parents are the partitions whose events come before this one's: one
	// after a split, two after a merge, none for an original partition.
	Parents []string
}

// A LineageSource is a Source whose partitions can end and be continued by
// others. The host calls Lineage instead of Partitions, and starts a
// partition only when its parents were processed to their end.
type LineageSource interface {
	Source
	// Lineage lists the stream's partitions with their parents.
	Lineage(ctx context.Context) ([]PartitionInfo, error)
}

// A LagReporter is a Receiver that knows how far behind its partition's
// newest event it is, in time: Kinesis' MillisBehindLatest, the memory
// source's age of its oldest event not yet returned. Host.Lag reports it
// per partition, calling Lag while Receive runs too.
type LagReporter interface {
	// Lag returns how far behind the partition's newest event the reader
	// is, and false when it cannot tell yet. It must be safe to call
	// concurrently with Receive.
	Lag() (time.Duration, bool)
}

// finishedLease reports whether l's record marks its partition finished.
func finishedLease(l blobstore.Lease) bool {
	return l.Checkpoint != nil && l.Checkpoint.Offset == EndOfPartition
}

// waiting returns the partitions, of those the store has a record of, that
// cannot start yet: a parent that the source still lists is not finished.
// finished holds the partitions marked finished, parents the local source's
// lineage, and listed the partitions it lists, sorted. A parent the source
// no longer lists has aged out of the stream: whatever it held is gone, so
// waiting for it would wait forever.
func waiting(stored map[string]bool, parents map[string][]string, finished map[string]bool, listed []string) map[string]bool {
	var out map[string]bool
	for id := range stored {
		for _, par := range parents[id] {
			if _, inSource := slices.BinarySearch(listed, par); finished[par] || !inSource {
				continue
			}
			if out == nil {
				out = map[string]bool{}
			}
			out[id] = true
			break
		}
	}
	return out
}
