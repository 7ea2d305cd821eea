// Package kinesis reads Amazon Kinesis Data Streams for a processor.Host,
// with leases and checkpoints in any Tidemark store: an S3 bucket (or GCS,
// Azure, files) instead of the DynamoDB table the Kinesis Client Library
// needs.
//
// # Use
//
//	cfg, _ := config.LoadDefaultConfig(ctx)
//	src, _ := kinesis.NewSource(awskinesis.NewFromConfig(cfg), "orders", nil)
//	store, _ := blobstore.Open(ctx, "s3://my-bucket?region=eu-west-1&prefix=orders/billing/", nil)
//	host, _ := processor.New(store, src, newProcessor, nil)
//	err := host.Run(ctx) // until ctx is cancelled, then a graceful handover
//
// examples/kinesis is a complete program to copy.
//
// # Positions
//
// An Event's Offset is the record's Kinesis sequence number, exactly as the
// service gives it (a decimal of up to 129 digits; it does not fit an
// int64). A checkpoint stores it as its offset, and a shard resumes with an
// AFTER_SEQUENCE_NUMBER iterator. The Event's SequenceNumber is not the
// Kinesis one: it counts the records the group has read from the shard (1
// for the first record read, whether from the trim horizon or from a later
// start), continued from the checkpoint on every takeover, so it grows by
// one per record and shows progress in `tidemark ls`. Key is the partition
// key and Time the approximate arrival time. KPL-aggregated records are
// delivered as the service stores them (one Event per aggregate).
//
// A shard without a checkpoint starts at Options.Start: TrimHorizon (the
// default), Latest or AtTimestamp. A child shard of a split or merge whose
// parents the stream still lists always starts at TrimHorizon, since its
// parents were read to their end: nothing between them is skipped. (So a
// group that starts with Latest on a stream resharded within its retention
// period reads those children from their beginning once.)
//
// # Resharding
//
// A Source is a processor.LineageSource: Lineage lists every shard the
// stream keeps (ListShards, paged), open and closed, with its parents. A
// closed shard read to its end makes Receive return
// processor.ErrEndOfPartition; the host then records the shard finished
// (checkpoint offset processor.EndOfPartition, as KCL's SHARD_END) once its
// processor has checkpointed the last record, and releases it. Finished
// shards are no longer balanced, and a child starts only when all its
// parents are finished, so the records of one partition key stay in order
// across splits and merges. New shards are picked up at the next balancing
// cycle, without a restart.
//
// # Limits and errors
//
// Reads of one shard are at least 200 ms apart (the service allows five
// GetRecords a second per shard), and Options.IdleInterval apart (default
// 1 s) once the shard is caught up. Each read asks for up to
// Options.MaxRecords (10,000) records, which the host takes in batches of
// its MaxBatch. Throttling (ProvisionedThroughputExceeded, LimitExceeded)
// of reads and iterators is retried, after the SDK's own retries, with a
// jittered backoff from 250 ms to 8 s; an expired iterator is renewed after
// the last record read. Other errors
// are returned, wrapped in a typed error for errors.Is: ErrStreamNotFound,
// ErrPermission, ErrInvalidCheckpoint, ErrCheckpointNotInStream. A
// checkpoint the stream no longer has (trimmed by retention, or from a
// deleted stream of the same name) is read from TrimHorizon with a warning,
// unless Options.StrictCheckpoints asks for the error instead.
//
// # Lag
//
// A receiver reports the service's MillisBehindLatest of its last read
// (processor.LagReporter), which processor.Host.Lag returns per shard.
//
// # Emulators
//
// The tests run on kinesalite (npm kinesalite@3.3.3, started by
// scripts/emulators.sh) with checkpoints on MinIO; docker-compose.yml runs
// LocalStack's Kinesis for Docker users. Either needs an endpoint override
// (BaseEndpoint) and static credentials; kinesalite checks that requests are
// signed, not by whom, and always reports MillisBehindLatest 0 for an open
// shard.
package kinesis
