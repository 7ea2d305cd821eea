package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tidemark/tidemark/blobstore"
)

// A host opens the store, creates a partition, takes its lease, checkpoints
// under it and hands it over.
func Example() {
	ctx := context.Background()
	store, err := blobstore.Open(ctx, "mem://example?prefix=orders/billing/", &blobstore.Options{Owner: "host-a"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if err := store.CreateStoreIfNotExists(ctx); err != nil {
		log.Fatal(err)
	}
	cp, err := store.CreateCheckpointIfNotExists(ctx, "0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fresh checkpoint: offset %s, sequence %d\n", cp.Offset, cp.SequenceNumber)

	lease, err := store.Acquire(ctx, "0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s owns partition %s at epoch %d\n", lease.Owner, lease.PartitionID, lease.Epoch)

	err = store.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: "4096", SequenceNumber: 57})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Release(ctx, lease); err != nil {
		log.Fatal(err)
	}

	cp, found, err := store.GetCheckpoint(ctx, "0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored checkpoint: offset %s, sequence %d (found %v)\n", cp.Offset, cp.SequenceNumber, found)
	// Output:
	// fresh checkpoint: offset -1, sequence 0
	// host-a owns partition 0 at epoch 1
	// stored checkpoint: offset 4096, sequence 57 (found true)
}

// A host whose lease was stolen learns it from its next write, which the
// store refuses: a zombie never overwrites the new owner's checkpoint.
func ExampleStore_UpdateCheckpoint_fenced() {
	ctx := context.Background()
	a, _ := blobstore.Open(ctx, "mem://fenced", &blobstore.Options{Owner: "host-a"})
	b, _ := blobstore.Open(ctx, "mem://fenced", &blobstore.Options{Owner: "host-b"})
	_ = a.CreateStoreIfNotExists(ctx)
	_, _ = a.CreateLeaseIfNotExists(ctx, "7")

	leaseA, _ := a.Acquire(ctx, "7")
	leaseB, _ := b.Steal(ctx, "7")
	fmt.Println("host-b stole it at epoch", leaseB.Epoch)

	err := a.UpdateCheckpoint(ctx, leaseA, blobstore.Checkpoint{Offset: "100", SequenceNumber: 100})
	fmt.Println("host-a's checkpoint refused:", errors.Is(err, blobstore.ErrLeaseLost))
	// Output:
	// host-b stole it at epoch 2
	// host-a's checkpoint refused: true
}

// A group's host heartbeats, which renews every lease it holds, and balances
// from Scan: one listing, with no record read when nothing changed.
func ExampleStore_Scan() {
	ctx := context.Background()
	a, _ := blobstore.Open(ctx, "mem://scan", &blobstore.Options{Owner: "host-a"})
	b, _ := blobstore.Open(ctx, "mem://scan", &blobstore.Options{Owner: "host-b"})
	_ = a.CreateStoreIfNotExists(ctx)
	for _, id := range []string{"0", "1", "2"} {
		_, _ = a.CreateLeaseIfNotExists(ctx, id)
	}
	_ = a.Heartbeat(ctx) // before acquiring: the heartbeats then renew the lease
	_ = b.Heartbeat(ctx)
	lease, _ := a.Acquire(ctx, "1")

	snap, err := b.Scan(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range snap.Leases {
		fmt.Printf("partition %s: owner %q, free %v\n", l.PartitionID, l.Owner, l.Free())
	}
	for _, h := range snap.Hosts {
		fmt.Println("host", h.Name)
	}
	_ = a.Heartbeat(ctx) // renews partition 1 without writing its record
	fmt.Println("host-a holds partition 1:", a.Holds(lease))
	// Output:
	// partition 0: owner "", free true
	// partition 1: owner "host-a", free false
	// partition 2: owner "", free true
	// host host-a
	// host host-b
	// host-a holds partition 1: true
}
