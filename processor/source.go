package processor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

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
	// and returns at most max events in order.
	Receive(ctx context.Context, max int) ([]Event, error)
	// Close releases the receiver.
	Close() error
}

// MemorySource is an in-process Source: each partition is an append-only
// slice of events, with offsets equal to sequence numbers (from 1). It is
// safe for concurrent use, and it is what the demo and the tests stream from.
type MemorySource struct {
	mu     sync.Mutex
	ids    []string
	parts  map[string][]Event
	notify chan struct{} // closed and replaced on every append
}

// NewMemorySource returns a source with partitions "0" … "n-1".
func NewMemorySource(n int) *MemorySource {
	s := &MemorySource{parts: map[string][]Event{}, notify: make(chan struct{})}
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
	seq := int64(len(evs)) + 1
	ev := Event{PartitionID: partitionID, Offset: strconv.FormatInt(seq, 10), SequenceNumber: seq, Body: body}
	s.parts[partitionID] = append(evs, ev)
	close(s.notify)
	s.notify = make(chan struct{})
	return ev, nil
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
	return &memReceiver{src: s, id: partitionID, next: next}, nil
}

type memReceiver struct {
	src  *MemorySource
	id   string
	next int64
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
			r.src.mu.Unlock()
			return out, nil
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
