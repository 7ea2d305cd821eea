package s3

import (
	"testing"
	"time"

	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// TestEventHubsContract runs the Event Hubs CheckpointStore contract on
// MinIO and versitygw.
func TestEventHubsContract(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		h, err := harnessMaker(e)(testContext(t, 30*time.Second), t)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		eventhubstest.RunTidemark(t, h.OpenBucket)
	})
}
