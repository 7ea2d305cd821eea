// Package processor runs a consumer group: many hosts share a stream's
// partitions, each partition has one live owner that processes its events and
// checkpoints, and ownership moves when hosts join, leave or die.
//
// # Use
//
//	store, _ := blobstore.Open(ctx, "s3://bucket?region=eu-west-1&prefix=orders/billing/", nil)
//	host, _ := processor.New(store, source, func(partitionID string) processor.Processor {
//		return &myProcessor{}
//	}, &processor.Options{Checkpoint: processor.CheckpointPolicy{EveryEvents: 100}})
//	err := host.Run(ctx) // until ctx is cancelled; then a graceful handover
//
// A Processor gets Open with the checkpoint to resume after, Process with
// batches of events (it calls Partition.Checkpoint to mark progress), and
// Close with the reason processing stopped. Its context is cancelled the
// moment the host learns its lease is gone, and from then on no checkpoint of
// its is accepted: the store fences it.
//
// # Balancing
//
// Every host heartbeats a presence record, so the fair share counts hosts
// that own nothing yet. The rule, written out in balance.go: claim free
// partitions up to floor(P/H) (and a spare one up to ceil(P/H)), hand over
// gracefully what is above ceil(P/H), and as a fallback steal one partition
// per cycle from the most loaded host when the gap is two or more. A
// balanced group (max-min <= 1) makes no moves.
//
// # Timing
//
// Each BalanceInterval (default: the store's renew interval) a host
// heartbeats, which renews every lease it holds (blobstore's rule 7), and
// flushes due checkpoints; on a ticker of its own it rebalances from one
// listing of the store, so a long scan (a large group, a slow store; it may
// take up to the lease duration) never delays a renewal. A host whose
// partitions were all written within the renew interval skips the heartbeat:
// its checkpoints renewed them. A killed host's partitions are taken over
// within lease duration + renew interval + one cycle; a host that stops
// gracefully leaves the group, then flushes and releases, and its
// partitions are taken within one cycle.
//
// # Costs
//
// In steady state a cycle reads no record: one listing (a request per 1,000
// keys on S3 and GCS) and, unless checkpoints already renewed everything,
// one heartbeat. An idle group makes two requests per host per renew
// interval while a listing fits one page (1,000 keys on S3 and GCS); a
// checkpointing one pays for its checkpoints and one listing per host per
// interval. `make cost` measures both against the azeventhubs Processor.
//
// That is the floor of this design, and it is deliberate: every host lists
// once per renew interval. Listing less often would make a group of 32
// partitions on 16 hosts cheaper than 0.6 times the azeventhubs Processor
// (it is 0.62) and an idle group of 1,024 partitions on S3 or GCS cost two
// requests per host per interval instead of three (the listing takes two
// pages), but a dead host's last write would be seen up to two intervals
// late, a graceful handover would take two cycles, and a fence (which a
// listing shows as one more change of a presence record) could no longer be
// told from a heartbeat by timing alone: every changed presence record would
// have to be read.
//
// A checkpoint that falls due in a cycle (CheckpointPolicy.EveryInterval)
// is written by that cycle's flush and renews its lease, so a host that
// checkpoints every partition once a renew interval writes no heartbeat.
//
// # Sources
//
// Source adapts a stream (list partitions, read from a position). MemorySource
// is an in-process source for tests and the demo; the kinesis package reads
// Amazon Kinesis. A LineageSource's partitions can end and be continued by
// others (Kinesis shards split and merge): the host reads a partition to its
// end, records it finished (EndOfPartition) once its last event is
// checkpointed, and only then starts its children; lineage.go states the
// rules. A Receiver that is a LagReporter makes Host.Lag report how far
// behind each partition is.
//
// # Observability
//
// Options.MeterProvider and Options.TracerProvider (OpenTelemetry) record
// the host's metrics (metrics.go) and a span per balancing cycle; give the
// Store the same providers for its request metrics and spans.
//
// # Logs
//
// Options.Logger receives structured records whose keys are stable:
//
//	host        the host's name (every record)
//	partition   the partition concerned
//	partitions  several partitions, as a list
//	epoch       the lease's epoch
//	offset      where processing of a taken partition starts
//	key         a record's object key (unreadable records)
//	reason      why a record is unreadable
//	err         the error, in words
//	repeated    identical warnings dropped since the last one logged
//
// Information: partition taken, lost, released, finished; a record readable
// again. Warnings: what failed and is retried (heartbeat, renew, claim,
// checkpoint flush, balancing skipped, a record unreadable). An identical
// warning (same message and partition) is logged at most once per
// Options.WarnInterval (a minute), so a store outage does not warn for
// every partition every cycle; an unreadable record is logged once per
// change of its reason.
package processor
