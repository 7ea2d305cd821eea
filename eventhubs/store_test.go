package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/eventhubs"
	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

const (
	testNamespace = "ns.servicebus.windows.net"
	testHub       = "hub"
	testGroup     = "$Default"
)

// counting counts the requests that reach a bucket; failGets makes that
// many reads fail first.
type counting struct {
	driver.Bucket
	gets, puts, lists atomic.Int64
	failGets          atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (driver.Object, error) {
	c.gets.Add(1)
	if c.failGets.Add(-1) >= 0 {
		return driver.Object{}, errors.New("injected: connection reset by peer")
	}
	return c.Bucket.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	c.puts.Add(1)
	return c.Bucket.Put(ctx, key, data, v)
}

func (c *counting) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	c.lists.Add(1)
	return c.Bucket.List(ctx, prefix, token)
}

func (c *counting) reset() { c.gets.Store(0); c.puts.Store(0); c.lists.Store(0) }

func (c *counting) String() string {
	return fmt.Sprintf("%d reads, %d writes, %d listings", c.gets.Load(), c.puts.Load(), c.lists.Load())
}

// processor is one simulated Processor: its CheckpointStore, and the
// requests that store makes.
type processor struct {
	id    string
	store *eventhubs.CheckpointStore
	n     *counting
}

func newProcessor(t *testing.T, ns, id string) *processor {
	t.Helper()
	n := &counting{Bucket: membucket.Open(ns)}
	s, err := blobstore.New(n, &blobstore.Options{Prefix: "eh"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := eventhubs.NewCheckpointStore(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return &processor{id: id, store: c, n: n}
}

// round does what the Processor's load balancer does when it keeps what it
// owns: list, then claim every partition it owns with the listed ETag. It
// returns how many it kept.
func (p *processor) round(ctx context.Context, t *testing.T) int {
	t.Helper()
	asked, got, err := eventhubstest.KeepOwned(ctx, p.store, testNamespace, testHub, testGroup, p.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != asked {
		t.Fatalf("%s renewed %d of its %d partitions", p.id, len(got), asked)
	}
	return len(got)
}

// A steady round costs one listing and one write per Processor, however many
// partitions it owns, and reads no record; a checkpoint is one write.
func TestRoundCost(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("eventhubs-cost-%d", time.Now().UnixNano())
	const partitions, hosts = 32, 4
	var group []*processor
	for i := range hosts {
		group = append(group, newProcessor(t, ns, fmt.Sprintf("processor-%d", i)))
	}
	// Each claims its share, created with nil ETags.
	for i, p := range group {
		var asked []azeventhubs.Ownership
		for id := i; id < partitions; id += hosts {
			asked = append(asked, azeventhubs.Ownership{FullyQualifiedNamespace: testNamespace, EventHubName: testHub,
				ConsumerGroup: testGroup, PartitionID: fmt.Sprint(id), OwnerID: p.id})
		}
		if got, err := p.store.ClaimOwnership(ctx, asked, nil); err != nil || len(got) != len(asked) {
			t.Fatalf("%s claimed %d of %d: %v", p.id, len(got), len(asked), err)
		}
	}
	for range 3 { // every store has listed and read everything once
		for _, p := range group {
			p.round(ctx, t)
		}
	}
	for _, p := range group {
		p.n.reset()
		if kept := p.round(ctx, t); kept != partitions/hosts {
			t.Fatalf("%s kept %d partitions", p.id, kept)
		}
		if g, w, l := p.n.gets.Load(), p.n.puts.Load(), p.n.lists.Load(); g != 0 || w != 1 || l != 1 {
			t.Errorf("%s: a steady round of %d partitions cost %s; want 0 reads, 1 write (the heartbeat), 1 listing", p.id, partitions/hosts, p.n)
		}
	}
	p := group[0]
	p.n.reset()
	off, seq := "100", int64(10)
	cp := azeventhubs.Checkpoint{FullyQualifiedNamespace: testNamespace, EventHubName: testHub, ConsumerGroup: testGroup,
		PartitionID: "0", Offset: &off, SequenceNumber: &seq}
	if err := p.store.SetCheckpoint(ctx, cp, nil); err != nil {
		t.Fatal(err)
	}
	if g, w, l := p.n.gets.Load(), p.n.puts.Load(), p.n.lists.Load(); g != 0 || w != 1 || l != 0 {
		t.Errorf("a checkpoint cost %s; want one write", p.n)
	}
	// Another processor's next listing sees the checkpoint as a sign of
	// life without reading it: the group is settled.
	q := group[1]
	q.n.reset()
	q.round(ctx, t)
	if g := q.n.gets.Load(); g != 0 {
		t.Errorf("a settled group's listing after a checkpoint read %d records", g)
	}
}

// A CheckpointStore serves one Processor per consumer group: a checkpoint
// names no owner, so a second one would make zombie checkpoints undetectable.
func TestSecondProcessorRefused(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t, fmt.Sprintf("eventhubs-second-%d", time.Now().UnixNano()), "a")
	claim := func(owner, group string) error {
		_, err := p.store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: testNamespace,
			EventHubName: testHub, ConsumerGroup: group, PartitionID: "0", OwnerID: owner}}, nil)
		return err
	}
	if err := claim("a", testGroup); err != nil {
		t.Fatal(err)
	}
	if err := claim("b", testGroup); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("a second Processor in the group: %v, want ErrInvalidArgument", err)
	}
	if err := claim("b", "other-group"); err != nil {
		t.Fatalf("a second Processor in another group: %v", err)
	}
}

// LastModifiedTime is the observer's clock by default (a store seeing an
// ownership for the first time reports it fresh), and the storage service's
// time of the last write with ServerTime.
func TestLastModifiedTime(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("eventhubs-lmt-%d", time.Now().UnixNano())
	owner := newProcessor(t, ns, "a")
	claimStart := time.Now()
	if _, err := owner.store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: testNamespace,
		EventHubName: testHub, ConsumerGroup: testGroup, PartitionID: "0", OwnerID: "a"}}, nil); err != nil {
		t.Fatal(err)
	}
	claimEnd := time.Now()
	time.Sleep(10 * time.Millisecond) // so that "at the write" and "at the listing" differ
	for _, serverTime := range []bool{false, true} {
		s, err := blobstore.New(membucket.Open(ns), &blobstore.Options{Prefix: "eh"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := eventhubs.NewCheckpointStore(s, &eventhubs.Options{ServerTime: serverTime})
		if err != nil {
			t.Fatal(err)
		}
		listStart := time.Now()
		listed, err := c.ListOwnership(ctx, testNamespace, testHub, testGroup, nil)
		if err != nil || len(listed) != 1 {
			t.Fatalf("ListOwnership = %v, %v", listed, err)
		}
		got := listed[0].LastModifiedTime
		if serverTime && (got.Before(claimStart) || got.After(claimEnd)) {
			t.Errorf("with ServerTime, LastModifiedTime %v is not the write's time (between %v and %v)", got, claimStart, claimEnd)
		}
		if !serverTime && got.Before(listStart) {
			t.Errorf("by default, a first sighting's LastModifiedTime %v is before the listing started (%v)", got, listStart)
		}
		_ = c.Close()
		_ = s.Close()
	}
}

// A round cancelled while it claims (the Processor is stopping) fails, and
// keeps what the store held: the Processor then relinquishes what its
// previous round claimed, and the others need not wait for an expiry.
func TestCancelledClaimKeepsOwnership(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t, fmt.Sprintf("eventhubs-cancel-%d", time.Now().UnixNano()), "a")
	own := azeventhubs.Ownership{FullyQualifiedNamespace: testNamespace, EventHubName: testHub, ConsumerGroup: testGroup,
		PartitionID: "0", OwnerID: "a"}
	claimed, err := p.store.ClaimOwnership(ctx, []azeventhubs.Ownership{own}, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.store.ClaimOwnership(cancelled, claimed, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled round: %v, want context.Canceled", err)
	}
	off := "1"
	cp := azeventhubs.Checkpoint{FullyQualifiedNamespace: testNamespace, EventHubName: testHub, ConsumerGroup: testGroup,
		PartitionID: "0", Offset: &off}
	if err := p.store.SetCheckpoint(ctx, cp, nil); err != nil {
		t.Fatalf("checkpoint after a cancelled round: %v", err)
	}
	gone := claimed[0]
	gone.OwnerID = ""
	if got, err := p.store.ClaimOwnership(ctx, []azeventhubs.Ownership{gone}, nil); err != nil || len(got) != 1 {
		t.Fatalf("relinquish after a cancelled round: %v, %v", got, err)
	}
	listed, err := p.store.ListOwnership(ctx, testNamespace, testHub, testGroup, nil)
	if err != nil || len(listed) != 1 || listed[0].OwnerID != "" {
		t.Fatalf("after relinquishing: %+v, %v", listed, err)
	}
}

// A checkpoint that cannot be read at once is read again: one left out
// would restart its partition from the default position, and the Processor
// does not retry a failed ListCheckpoints.
func TestListCheckpointsRetriesAFailedRead(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("eventhubs-retry-%d", time.Now().UnixNano())
	owner := newProcessor(t, ns, "a")
	own := azeventhubs.Ownership{FullyQualifiedNamespace: testNamespace, EventHubName: testHub, ConsumerGroup: testGroup,
		PartitionID: "0", OwnerID: "a"}
	if _, err := owner.store.ClaimOwnership(ctx, []azeventhubs.Ownership{own}, nil); err != nil {
		t.Fatal(err)
	}
	off, seq := "4096", int64(57)
	if err := owner.store.SetCheckpoint(ctx, azeventhubs.Checkpoint{FullyQualifiedNamespace: testNamespace,
		EventHubName: testHub, ConsumerGroup: testGroup, PartitionID: "0", Offset: &off, SequenceNumber: &seq}, nil); err != nil {
		t.Fatal(err)
	}
	reader := newProcessor(t, ns, "b")
	// The reader has read the store marker and the record once; the next
	// checkpoint changes the record, so the next listing must read it.
	if _, err := reader.store.ListCheckpoints(ctx, testNamespace, testHub, testGroup, nil); err != nil {
		t.Fatal(err)
	}
	off = "8192"
	if err := owner.store.SetCheckpoint(ctx, azeventhubs.Checkpoint{FullyQualifiedNamespace: testNamespace,
		EventHubName: testHub, ConsumerGroup: testGroup, PartitionID: "0", Offset: &off, SequenceNumber: &seq}, nil); err != nil {
		t.Fatal(err)
	}
	reader.n.failGets.Store(1)
	cps, err := reader.store.ListCheckpoints(ctx, testNamespace, testHub, testGroup, nil)
	if err != nil || len(cps) != 1 || cps[0].Offset == nil || *cps[0].Offset != off {
		t.Fatalf("ListCheckpoints after one failed read = %+v, %v; want the checkpoint", cps, err)
	}
	if n := reader.n.failGets.Load(); n >= 0 {
		t.Fatalf("the injected failure was not met (%d left)", n+1)
	}
}

// A closed CheckpointStore refuses every call with blobstore.ErrClosed.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t, fmt.Sprintf("eventhubs-closed-%d", time.Now().UnixNano()), "a")
	if err := p.store.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := p.store.ListOwnership(ctx, testNamespace, testHub, testGroup, nil)
	if !errors.Is(err, blobstore.ErrClosed) {
		t.Fatalf("ListOwnership after Close: %v, want ErrClosed", err)
	}
	_, err = p.store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: testNamespace,
		EventHubName: testHub, ConsumerGroup: testGroup, PartitionID: "0", OwnerID: "a"}}, nil)
	if !errors.Is(err, blobstore.ErrClosed) {
		t.Fatalf("ClaimOwnership after Close: %v, want ErrClosed", err)
	}
}

// A Processor's first claim does not restart how long its store has seen
// the others' ownerships unchanged: expiry counts from its first listing.
func TestFirstClaimKeepsObservations(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("eventhubs-observe-%d", time.Now().UnixNano())
	a, b := newProcessor(t, ns, "a"), newProcessor(t, ns, "b")
	claim := func(p *processor, id string) {
		t.Helper()
		if _, err := p.store.ClaimOwnership(ctx, []azeventhubs.Ownership{{FullyQualifiedNamespace: testNamespace,
			EventHubName: testHub, ConsumerGroup: testGroup, PartitionID: id, OwnerID: p.id}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	claim(a, "0")
	lmt := func() time.Time {
		t.Helper()
		listed, err := b.store.ListOwnership(ctx, testNamespace, testHub, testGroup, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range listed {
			if o.PartitionID == "0" {
				return o.LastModifiedTime
			}
		}
		t.Fatal("partition 0 not listed")
		return time.Time{}
	}
	first := lmt()
	time.Sleep(20 * time.Millisecond) // so that a restarted observation would show
	claim(b, "1")
	if again := lmt(); again.After(first.Add(10 * time.Millisecond)) {
		t.Fatalf("after its first claim, b reports partition 0 modified at %v, later than at its first listing (%v): its observation started over", again, first)
	}
}
