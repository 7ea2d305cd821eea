package azblob

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/eventhubs"
	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// BenchmarkEventHubsStores compares, in one run on Azurite, Tidemark's
// eventhubs.CheckpointStore with the SDK's checkpoints.BlobStore as the
// azeventhubs Processor uses them: a group of 4 processors over 32
// partitions, each with a store of its own, counted at the HTTP transport.
//
//   - rounds: each processor's load-balancing round in steady state
//     (ListOwnership, then ClaimOwnership of what it owns with the listed
//     ETags), reported as requests per round;
//   - checkpointing: every partition checkpointed once per round, as with a
//     checkpoint every 10 s and the Processor's 10 s round, reported as
//     requests per partition-hour;
//   - SetCheckpoint: one processor's checkpoint loop, for throughput (ns/op).
func BenchmarkEventHubsStores(b *testing.B) {
	ctx := testContext(b, 10*time.Minute)
	cs, c := newContainer(ctx, b)
	name := containerNameOf(c)
	warmUp(ctx, b, newClient(b, cs, name, nil))
	const partitions, hosts = 32, 4
	kinds := []struct {
		name string
		open func(b *testing.B, n *counter) azeventhubs.CheckpointStore
	}{
		{"tidemark", func(b *testing.B, n *counter) azeventhubs.CheckpointStore {
			b.Helper()
			s, err := blobstore.New(newBucket(b, newClient(b, cs, name, n), nil), &blobstore.Options{Prefix: "tidemark"})
			if err != nil {
				b.Fatal(err)
			}
			store, err := eventhubs.NewCheckpointStore(s, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = store.Close() })
			return store
		}},
		{"blobstore", func(b *testing.B, n *counter) azeventhubs.CheckpointStore {
			b.Helper()
			store, err := checkpoints.NewBlobStore(newClient(b, cs, name, n), nil)
			if err != nil {
				b.Fatal(err)
			}
			return store
		}},
	}
	for _, k := range kinds {
		ns := fmt.Sprintf("bench-%s-%d.servicebus.windows.net", k.name, time.Now().UnixNano())
		group := newBenchGroup(b, ns, hosts, func(n *counter) azeventhubs.CheckpointStore { return k.open(b, n) })
		group.claimShares(ctx, b, partitions)
		for range 2 { // every store has listed the group
			group.round(ctx, b, false)
		}
		b.Run("rounds/"+k.name, func(b *testing.B) {
			group.reset()
			for b.Loop() {
				group.round(ctx, b, false)
			}
			b.ReportMetric(float64(group.requests())/float64(b.N*hosts), "req/round")
		})
		b.Run("checkpointing/"+k.name, func(b *testing.B) {
			group.reset()
			for b.Loop() {
				group.round(ctx, b, true)
			}
			// One loop is one 10 s period: 360 an hour.
			b.ReportMetric(float64(group.requests())/float64(b.N)*360/partitions, "req/partition-hour")
		})
		b.Run("SetCheckpoint/"+k.name, func(b *testing.B) {
			p := group.procs[0]
			id := p.owned[0]
			seq := int64(0)
			group.reset()
			for b.Loop() {
				seq++
				if err := p.store.SetCheckpoint(ctx, group.checkpoint(id, seq), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(group.requests())/float64(b.N), "req/op")
		})
	}
}

// benchGroup is a group of simulated processors on one consumer group.
type benchGroup struct {
	ns    string
	procs []*benchProc
	seq   int64
}

type benchProc struct {
	id    string
	store azeventhubs.CheckpointStore
	n     *counter
	owned []string
}

func newBenchGroup(b *testing.B, ns string, hosts int, open func(*counter) azeventhubs.CheckpointStore) *benchGroup {
	b.Helper()
	g := &benchGroup{ns: ns}
	for i := range hosts {
		n := &counter{}
		g.procs = append(g.procs, &benchProc{id: fmt.Sprintf("processor-%d", i), store: open(n), n: n})
	}
	return g
}

func (g *benchGroup) ownership(id, owner string) azeventhubs.Ownership {
	return azeventhubs.Ownership{FullyQualifiedNamespace: g.ns, EventHubName: "bench", ConsumerGroup: "$Default",
		PartitionID: id, OwnerID: owner}
}

func (g *benchGroup) checkpoint(id string, seq int64) azeventhubs.Checkpoint {
	off := strconv.FormatInt(seq*1000, 10)
	return azeventhubs.Checkpoint{FullyQualifiedNamespace: g.ns, EventHubName: "bench", ConsumerGroup: "$Default",
		PartitionID: id, Offset: &off, SequenceNumber: &seq}
}

// claimShares has each processor create its share of the partitions.
func (g *benchGroup) claimShares(ctx context.Context, b *testing.B, partitions int) {
	b.Helper()
	for i, p := range g.procs {
		var asked []azeventhubs.Ownership
		for id := i; id < partitions; id += len(g.procs) {
			asked = append(asked, g.ownership(strconv.Itoa(id), p.id))
			p.owned = append(p.owned, strconv.Itoa(id))
		}
		got, err := p.store.ClaimOwnership(ctx, asked, nil)
		if err != nil || len(got) != len(asked) {
			b.Fatalf("%s claimed %d of %d: %v", p.id, len(got), len(asked), err)
		}
	}
}

// round runs one round of every processor, checkpointing each partition it
// owns first when checkpoint is set.
func (g *benchGroup) round(ctx context.Context, b *testing.B, checkpoint bool) {
	b.Helper()
	for _, p := range g.procs {
		if checkpoint {
			g.seq++
			for _, id := range p.owned {
				if err := p.store.SetCheckpoint(ctx, g.checkpoint(id, g.seq), nil); err != nil {
					b.Fatalf("%s: SetCheckpoint %s: %v", p.id, id, err)
				}
			}
		}
		_, got, err := eventhubstest.KeepOwned(ctx, p.store, g.ns, "bench", "$Default", p.id)
		if err != nil || len(got) != len(p.owned) {
			b.Fatalf("%s renewed %d of its %d partitions: %v", p.id, len(got), len(p.owned), err)
		}
	}
}

func (g *benchGroup) reset() {
	for _, p := range g.procs {
		p.n.n.Store(0)
	}
}

func (g *benchGroup) requests() int64 {
	var sum int64
	for _, p := range g.procs {
		sum += p.n.n.Load()
	}
	return sum
}
