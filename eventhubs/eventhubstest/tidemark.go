package eventhubstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/eventhubs"
)

// RunTidemark runs the contract on Tidemark's eventhubs.CheckpointStore over
// a provider: open returns a new driver value on one shared bucket each time
// it is called (a host of its own, as another process would have), and the
// run works under a prefix no other run uses. Every case applies, and a
// zombie's checkpoint must be refused with eventhubs.ErrNotOwner.
func RunTidemark(t *testing.T, open func(ctx context.Context) (driver.Bucket, error)) {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "eventhubs-contract-" + hex.EncodeToString(rnd[:])
	Run(t, func(t *testing.T) azeventhubs.CheckpointStore {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
		defer cancel()
		bkt, err := open(ctx)
		if err != nil {
			t.Fatalf("opening a bucket: %v", err)
		}
		s, err := blobstore.New(bkt, &blobstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		c, err := eventhubs.NewCheckpointStore(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.Close()
			_ = s.Close()
		})
		return c
	}, &Options{Fenced: func(err error) bool {
		return errors.Is(err, eventhubs.ErrNotOwner) && errors.Is(err, blobstore.ErrLeaseLost)
	}})
}

// KeepOwned does what the Processor's load balancer does in a round where it
// neither takes nor gives up anything: it lists the group's ownerships, then
// claims the ones owner holds with the listed ETags. It returns how many it
// asked for and the claims that succeeded.
func KeepOwned(ctx context.Context, store azeventhubs.CheckpointStore, namespace, eventHub, consumerGroup, owner string) (asked int, kept []azeventhubs.Ownership, err error) {
	listed, err := store.ListOwnership(ctx, namespace, eventHub, consumerGroup, nil)
	if err != nil {
		return 0, nil, err
	}
	var mine []azeventhubs.Ownership
	for _, o := range listed {
		if o.OwnerID == owner {
			mine = append(mine, o)
		}
	}
	kept, err = store.ClaimOwnership(ctx, mine, nil)
	return len(mine), kept, err
}
