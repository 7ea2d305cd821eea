package processor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Event is one event of a partition.
type Event struct {
	PartitionID string
	// Offset is the source's position of the event, opaque to the host.
	Offset string
	// SequenceNumber grows by at least one from event to event.
	SequenceNumber int64
	Body           []byte
	// Key is the event's partition key, where the source has one.
	Key string
	// Time is when the stream received the event, where the source tells.
	Time time.Time
}

// Source is the stream: its partitions, and a reader for each. Adapt Event
// Hubs, Kafka, Kinesis or your own log to it.
type Source interface {
	// Partitions lists the stream's partition ids.
	Partitions(ctx context.Context) ([]string, error)
	// Open starts reading partitionID just after the checkpoint from; a
	// checkpoint at blobstore.StartOfStream reads from the first event.
	Open(ctx context.Context, partitionID string, from blobstore.Checkpoint) (Receiver, error)
}

// Receiver reads one partition.
type Receiver interface {
	// Receive waits until at least one event is available or ctx is done,
	// and returns at most max events in order. Once a partition that ended
	// (a closed Kinesis shard) has returned every event, Receive returns
	// ErrEndOfPartition; events returned together with it are processed
	// before the partition ends.
	Receive(ctx context.Context, max int) ([]Event, error)
	// Close releases the receiver.
	Close() error
}

// MemorySource is an in-process Source: each partition is an append-only
// slice of events, with offsets equal to sequence numbers (from 1). It is
// safe for concurrent use, and it is what the demo and the tests stream from.
// It is a LineageSource: End closes a partition and AddPartition continues
// it, as a Kinesis split or merge does.
type MemorySource struct {
	mu      sync.Mutex
	ids     []string
	parts   map[string][]Event
	times   map[string][]time.Time // append time of each event
	parents map[string][]string
	ended   map[string]bool
	notify  chan struct{} // closed and replaced on every change
}

// NewMemorySource returns a source with partitions "0" … "n-1".
func NewMemorySource(n int) *MemorySource {
	s := &MemorySource{parts: map[string][]Event{}, times: map[string][]time.Time{}, parents: map[string][]string{},
		ended: map[string]bool{}, notify: make(chan struct{})}
	for i := 0; i < n; i++ {
		id := strconv.Itoa(i)
		s.ids = append(s.ids, id)
		s.parts[id] = nil
	}
	return s
}

// Append adds an event to the partition and returns it.
func (s *MemorySource) Append(partitionID string, body []byte) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, ok := s.parts[partitionID]
	if !ok {
		return Event{}, fmt.Errorf("memory source: no partition %q", partitionID)
	}
	if s.ended[partitionID] {
		return Event{}, fmt.Errorf("memory source: partition %q has ended", partitionID)
	}
	seq := int64(len(evs)) + 1
	now := time.Now()
	ev := Event{PartitionID: partitionID, Offset: strconv.FormatInt(seq, 10), SequenceNumber: seq, Body: body, Time: now}
	s.parts[partitionID] = append(evs, ev)
	s.times[partitionID] = append(s.times[partitionID], now)
	s.changed()
	return ev, nil
}

func (s *MemorySource) changed() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// End closes a partition: no more events are appended, and its readers
// report ErrEndOfPartition once they returned every event.
func (s *MemorySource) End(partitionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parts[partitionID]; !ok {
		return fmt.Errorf("memory source: no partition %q", partitionID)
	}
	s.ended[partitionID] = true
	s.changed()
	return nil
}

// AddPartition adds a partition that continues parents (each of them should
// be ended, as a split or merge ends them).
func (s *MemorySource) AddPartition(partitionID string, parents ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parts[partitionID]; ok {
		return fmt.Errorf("memory source: partition %q exists", partitionID)
	}
	for _, par := range parents {
		if _, ok := s.parts[par]; !ok {
			return fmt.Errorf("memory source: no parent partition %q", par)
		}
	}
	s.ids = append(s.ids, partitionID)
	s.parts[partitionID] = nil
	if len(parents) > 0 {
		s.parents[partitionID] = slices.Clone(parents)
	}
	s.changed()
	return nil
}

// Remove takes a partition out of the source's listing, as a stream's
// retention ages a closed shard out: its events can no longer be read.
func (s *MemorySource) Remove(partitionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.ids, partitionID)
	if i < 0 {
		return fmt.Errorf("memory source: no partition %q", partitionID)
	}
	s.ids = slices.Delete(s.ids, i, i+1)
	delete(s.parts, partitionID)
	delete(s.times, partitionID)
	s.changed()
	return nil
}

// Lineage implements LineageSource.
func (s *MemorySource) Lineage(context.Context) ([]PartitionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PartitionInfo, 0, len(s.ids))
	for _, id := range s.ids {
		out = append(out, PartitionInfo{ID: id, Parents: slices.Clone(s.parents[id])})
	}
	return out, nil
}

// Len returns how many events the partition holds.
func (s *MemorySource) Len(partitionID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.parts[partitionID])
}

// Partitions implements Source.
func (s *MemorySource) Partitions(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), nil
}

// Open implements Source.
func (s *MemorySource) Open(_ context.Context, partitionID string, from blobstore.Checkpoint) (Receiver, error) {
	s.mu.Lock()
	_, ok := s.parts[partitionID]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("memory source: no partition %q", partitionID)
	}
	next := int64(0) // index of the next event to deliver
	if from.Offset != blobstore.StartOfStream {
		seq, err := strconv.ParseInt(from.Offset, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("memory source: checkpoint offset %q is not one of mine: %w", from.Offset, err)
		}
		next = seq
	}
	r := &memReceiver{src: s, id: partitionID, next: next}
	r.lag.Store(-1)
	return r, nil
}

type memReceiver struct {
	src  *MemorySource
	id   string
	next int64

	lag atomic.Int64 // nanoseconds behind the newest event; -1 before the first Receive
}

// Lag implements LagReporter: how long the oldest event not yet returned has
// been waiting, after the last Receive; zero when it returned every event.
func (r *memReceiver) Lag() (time.Duration, bool) {
	d := r.lag.Load()
	return time.Duration(d), d >= 0
}

func (r *memReceiver) Receive(ctx context.Context, max int) ([]Event, error) {
	for {
		r.src.mu.Lock()
		evs := r.src.parts[r.id]
		wait := r.src.notify
		if r.next < int64(len(evs)) {
			end := min(int64(len(evs)), r.next+int64(max))
			out := slices.Clone(evs[r.next:end])
			r.next = end
			var lag time.Duration
			if end < int64(len(evs)) {
				lag = time.Since(r.src.times[r.id][end])
			}
			r.lag.Store(int64(lag))
			r.src.mu.Unlock()
			return out, nil
		}
		r.lag.Store(0)
		if r.src.ended[r.id] {
			r.src.mu.Unlock()
			return nil, ErrEndOfPartition
		}
		r.src.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

func (r *memReceiver) Close() error { return nil }
