package azblob

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"

	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// TestEventHubsSDKContract runs the Azure SDK's own checkpoints.BlobStore
// through the CheckpointStore contract on Azurite: the baseline that any
// store of ours is compared with. Every host is a new container client and
// BlobStore on one fresh container, as another process would have.
func TestEventHubsSDKContract(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	cs, c := newContainer(ctx, t) // the BlobStore needs the container to exist
	name := containerNameOf(c)
	eventhubstest.Run(t, func(t *testing.T) azeventhubs.CheckpointStore {
		t.Helper()
		s, err := checkpoints.NewBlobStore(newClient(t, cs, name, nil), nil)
		if err != nil {
			t.Fatalf("checkpoints.NewBlobStore: %v", err)
		}
		return s
	}, &eventhubstest.Options{
		Weaker: map[string]string{
			"CheckpointOffsetOnly":   "BlobStore.ListCheckpoints fails with \"sequencenumber is missing from metadata\" for a checkpoint stored without a sequence number",
			"CheckpointSequenceOnly": "BlobStore.ListCheckpoints fails with \"offset is missing from metadata\" for a checkpoint stored without an offset",
		},
		// Fenced is nil: BlobStore.SetCheckpoint writes unconditionally, so
		// a host that lost the partition still overwrites the new owner's
		// checkpoint.
	})
}
