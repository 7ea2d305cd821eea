package azblob

import (
	"testing"
	"time"

	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// TestEventHubsContract runs the Event Hubs CheckpointStore contract on
// Azurite, beside the SDK's own BlobStore (TestEventHubsSDKContract).
func TestEventHubsContract(t *testing.T) {
	azurite(t)
	h, err := newHarness(testContext(t, 30*time.Second), t)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eventhubstest.RunTidemark(t, h.OpenBucket)
}
