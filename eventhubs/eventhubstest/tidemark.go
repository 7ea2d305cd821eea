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
