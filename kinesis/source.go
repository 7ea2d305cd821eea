package kinesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/processor"
)

// API is the part of the Kinesis client the Source calls; *kinesis.Client
// (github.com/aws/aws-sdk-go-v2/service/kinesis) implements it.
type API interface {
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error)
}

// StartPosition says where a shard that has no checkpoint is first read.
type StartPosition struct {
	kind types.ShardIteratorType
	at   time.Time
}

var (
	// TrimHorizon starts at the oldest record the stream keeps: nothing
	// retained is skipped.
	TrimHorizon = StartPosition{kind: types.ShardIteratorTypeTrimHorizon}
	// Latest starts after the newest record at the time the shard is first
	// opened.
	Latest = StartPosition{kind: types.ShardIteratorTypeLatest}
)

// AtTimestamp starts at the first record that arrived at t or later.
func AtTimestamp(t time.Time) StartPosition {
	return StartPosition{kind: types.ShardIteratorTypeAtTimestamp, at: t}
}

func (p StartPosition) String() string {
	if p.kind == types.ShardIteratorTypeAtTimestamp {
		return "AT_TIMESTAMP " + p.at.UTC().Format(time.RFC3339Nano)
	}
	return string(p.kind)
}

// Options configure a Source. A nil *Options means the defaults.
type Options struct {
	// Start is where a shard without a checkpoint is first read. Default
	// TrimHorizon. A shard whose parents the stream still lists (a child of
	// a split or merge) always starts at TrimHorizon: its parents were read
	// to their end, and nothing after them may be skipped.
	Start StartPosition
	// MaxRecords bounds the records of one GetRecords call (the service
	// allows 10,000, the default). A read's records are handed to the host
	// in batches of its MaxBatch, so a small MaxBatch does not slow the
	// reads down (a shard takes 1,000 records a second; at five reads a
	// second, reads of 100 could not keep up).
	MaxRecords int32
	// IdleInterval is the wait before reading a shard again after a read
	// found nothing new. Default 1s. Reads of one shard are at least 200 ms
	// apart in any case: the service allows five per second per shard.
	IdleInterval time.Duration
	// StrictCheckpoints makes Open fail with ErrCheckpointNotInStream when a
	// checkpoint's sequence number is not in the stream (trimmed, or from a
	// deleted stream of the same name). By default the shard is read from
	// TrimHorizon instead, and a warning is logged: the records between the
	// checkpoint and the trim horizon are gone either way, and a strict
	// Source leaves the shard unread until an operator moves its
	// checkpoint (tidemark set).
	StrictCheckpoints bool
	// Logger receives the source's warnings. Default: discarded.
	Logger *slog.Logger
}

// minReadGap is the least time between two GetRecords calls on one shard
// (five per second per shard is the service's limit).
const minReadGap = 200 * time.Millisecond

// Source reads one Kinesis data stream: a processor.LineageSource whose
// partitions are the stream's shards. It is safe for concurrent use.
type Source struct {
	api    API
	stream string
	opts   Options
	log    *slog.Logger

	mu      sync.Mutex
	parents map[string][]string // shard -> parents, as last listed
	listed  map[string]bool
}

// NewSource returns a Source over stream, read through api (a
// *kinesis.Client).
func NewSource(api API, stream string, opts *Options) (*Source, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: kinesis.NewSource needs a client", ErrInvalidArgument)
	}
	if !streamName.MatchString(stream) {
		return nil, fmt.Errorf("%w: stream name %q: want 1-128 characters of a-z, A-Z, 0-9, '_', '.', '-'", ErrInvalidArgument, stream)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Start.kind == "" {
		o.Start = TrimHorizon
	}
	if o.MaxRecords <= 0 || o.MaxRecords > 10000 {
		o.MaxRecords = 10000
	}
	if o.IdleInterval <= 0 {
		o.IdleInterval = time.Second
	}
	o.IdleInterval = max(o.IdleInterval, minReadGap)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Source{api: api, stream: stream, opts: o, log: o.Logger.With("stream", stream)}, nil
}

var (
	streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	// A Kinesis sequence number: a decimal of up to 129 digits.
	sequenceNumber = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)
)

// Stream returns the stream's name.
func (s *Source) Stream() string { return s.stream }

// Lineage implements processor.LineageSource: every shard the stream lists
// (open, and closed ones still within the retention period), with the
// shards it continues.
func (s *Source) Lineage(ctx context.Context) ([]processor.PartitionInfo, error) {
	var (
		out   []processor.PartitionInfo
		token *string
	)
	for {
		in := &awskinesis.ListShardsInput{}
		if token == nil {
			in.StreamName = aws.String(s.stream)
		} else {
			in.NextToken = token // the service refuses it together with the name
		}
		page, err := s.api.ListShards(ctx, in)
		if err != nil {
			return nil, s.wrap("ListShards", "", err)
		}
		for _, sh := range page.Shards {
			info := processor.PartitionInfo{ID: aws.ToString(sh.ShardId)}
			for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
				if p != nil && *p != "" {
					info.Parents = append(info.Parents, *p)
				}
			}
			out = append(out, info)
		}
		if page.NextToken == nil || *page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	parents := make(map[string][]string, len(out))
	listed := make(map[string]bool, len(out))
	for _, in := range out {
		listed[in.ID] = true
		if len(in.Parents) > 0 {
			parents[in.ID] = in.Parents
		}
	}
	s.mu.Lock()
	s.parents, s.listed = parents, listed
	s.mu.Unlock()
	return out, nil
}

// Partitions implements processor.Source: the ids of Lineage's shards.
func (s *Source) Partitions(ctx context.Context) ([]string, error) {
	infos, err := s.Lineage(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.ID
	}
	return ids, nil
}

// isChild reports whether the stream lists a parent of shard, listing the
// shards if it does not know shard yet.
func (s *Source) isChild(ctx context.Context, shard string) (bool, error) {
	s.mu.Lock()
	known := s.listed[shard]
	s.mu.Unlock()
	if !known {
		if _, err := s.Lineage(ctx); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.parents[shard], func(p string) bool { return s.listed[p] }), nil
}

// Open implements processor.Source: it reads shard after the checkpoint
// from (its Offset is a Kinesis sequence number), or from the start
// position when from is blobstore.StartOfStream.
func (s *Source) Open(ctx context.Context, shard string, from blobstore.Checkpoint) (processor.Receiver, error) {
	r := &receiver{src: s, shard: shard, count: max(from.SequenceNumber, 0)}
	r.lag.Store(-1)
	switch {
	case from.Offset == processor.EndOfPartition:
		return r, nil // no iterator: ends at once
	case from.Offset == blobstore.StartOfStream:
		start := s.opts.Start
		child, err := s.isChild(ctx, shard)
		if err != nil {
			return nil, err
		}
		if child {
			start = TrimHorizon
		}
		r.first = start.input(s.stream, shard)
	case sequenceNumber.MatchString(from.Offset):
		r.first = &awskinesis.GetShardIteratorInput{StreamName: aws.String(s.stream), ShardId: aws.String(shard),
			ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(from.Offset)}
		r.last = from.Offset
	default:
		return nil, fmt.Errorf("%w: shard %s: checkpoint offset %q is not a Kinesis sequence number", ErrInvalidCheckpoint, shard, from.Offset)
	}
	it, err := s.iterator(ctx, r.first)
	if err != nil && errors.Is(err, ErrCheckpointNotInStream) && !s.opts.StrictCheckpoints {
		s.log.Warn("checkpoint not in the stream (trimmed, or from an earlier stream of this name): reading the shard from TRIM_HORIZON",
			"shard", shard, "checkpoint", from.Offset, "err", err)
		r.first = TrimHorizon.input(s.stream, shard)
		r.last = ""
		it, err = s.iterator(ctx, r.first)
	}
	if err != nil {
		return nil, err
	}
	r.iter = it
	return r, nil
}

func (p StartPosition) input(stream, shard string) *awskinesis.GetShardIteratorInput {
	in := &awskinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: p.kind}
	if p.kind == types.ShardIteratorTypeAtTimestamp {
		in.Timestamp = aws.Time(p.at)
	}
	return in
}

func (s *Source) iterator(ctx context.Context, in *awskinesis.GetShardIteratorInput) (*string, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.api.GetShardIterator(ctx, in)
		if err == nil {
			return out.ShardIterator, nil
		}
		err = s.wrap("GetShardIterator", aws.ToString(in.ShardId), err)
		if !errors.Is(err, ErrThrottled) {
			if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber && errors.Is(err, ErrInvalidArgument) {
				return nil, fmt.Errorf("%w: shard %s: %w", ErrCheckpointNotInStream, aws.ToString(in.ShardId), err)
			}
			return nil, err
		}
		if werr := wait(ctx, backoff(attempt)); werr != nil {
			return nil, werr
		}
	}
}

// backoff is the wait before retry attempt+1 of a throttled call: doubling
// from 250 ms to 8 s, with full jitter on the upper half.
func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt, 5)
	return d/2 + rand.N(d/2+1)
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// receiver reads one shard.
type receiver struct {
	src   *Source
	shard string
	first *awskinesis.GetShardIteratorInput // where reading started
	iter  *string                           // nil once the shard's end was read
	buf   []processor.Event                 // read, not returned yet
	last  string                            // sequence number of the last record read
	count int64                             // records of the shard counted up to last
	next  time.Time                         // earliest time of the next GetRecords
	lag   atomic.Int64                      // MillisBehindLatest of the last read, in ns; -1 unknown
}

// Lag implements processor.LagReporter with the service's
// MillisBehindLatest of the last read.
func (r *receiver) Lag() (time.Duration, bool) {
	d := r.lag.Load()
	return time.Duration(d), d >= 0
}

// Receive implements processor.Receiver. It polls until records arrive,
// backs off while the shard's read throughput is exceeded, renews an
// expired iterator after the last record returned, and returns
// processor.ErrEndOfPartition once a closed shard was read to its end.
func (r *receiver) Receive(ctx context.Context, batch int) ([]processor.Event, error) {
	throttled := 0
	for {
		if len(r.buf) > 0 {
			n := len(r.buf)
			if batch > 0 {
				n = min(n, batch)
			}
			out := r.buf[:n:n]
			r.buf = r.buf[n:]
			return out, nil
		}
		if r.iter == nil {
			return nil, processor.ErrEndOfPartition
		}
		if err := wait(ctx, time.Until(r.next)); err != nil {
			return nil, err
		}
		out, err := r.src.api.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: r.iter, Limit: aws.Int32(r.src.opts.MaxRecords)})
		r.next = time.Now().Add(minReadGap)
		if err != nil {
			err = r.src.wrap("GetRecords", r.shard, err)
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case errors.Is(err, ErrThrottled):
				r.next = time.Now().Add(backoff(throttled))
				throttled++
				continue
			case errors.Is(err, errExpiredIterator):
				if err := r.renewIterator(ctx); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		throttled = 0
		r.iter = out.NextShardIterator
		if out.MillisBehindLatest != nil {
			r.lag.Store(int64(time.Duration(*out.MillisBehindLatest) * time.Millisecond))
		}
		if len(out.Records) > 0 {
			evs := make([]processor.Event, len(out.Records))
			for i, rec := range out.Records {
				r.count++
				evs[i] = processor.Event{PartitionID: r.shard, Offset: aws.ToString(rec.SequenceNumber), SequenceNumber: r.count,
					Body: rec.Data, Key: aws.ToString(rec.PartitionKey), Time: aws.ToTime(rec.ApproximateArrivalTimestamp)}
			}
			r.last = evs[len(evs)-1].Offset
			r.buf = evs
			continue
		}
		if out.MillisBehindLatest == nil || *out.MillisBehindLatest == 0 {
			r.next = time.Now().Add(r.src.opts.IdleInterval) // caught up: poll slower
		}
	}
}

// renewIterator replaces an expired iterator: after the last record read,
// or where reading started.
func (r *receiver) renewIterator(ctx context.Context) error {
	in := r.first
	if r.last != "" {
		in = &awskinesis.GetShardIteratorInput{StreamName: aws.String(r.src.stream), ShardId: aws.String(r.shard),
			ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(r.last)}
	}
	it, err := r.src.iterator(ctx, in)
	if err != nil {
		return err
	}
	r.iter = it
	return nil
}

// Close implements processor.Receiver.
func (r *receiver) Close() error { return nil }
