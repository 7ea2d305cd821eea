package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// TestEventHubsContract runs the Event Hubs CheckpointStore contract on
// fake-gcs-server.
func TestEventHubsContract(t *testing.T) {
	requireEmulator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eventhubstest.RunTidemark(t, h.OpenBucket)
}
