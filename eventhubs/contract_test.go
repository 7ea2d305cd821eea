package eventhubs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/eventhubs/eventhubstest"
)

// TestContractMemory runs the CheckpointStore contract with every host a
// Store of its own over one in-memory namespace.
func TestContractMemory(t *testing.T) {
	ns := fmt.Sprintf("eventhubs-contract-%d", time.Now().UnixNano())
	eventhubstest.RunTidemark(t, func(context.Context) (driver.Bucket, error) {
		return membucket.Open(ns), nil
	})
}

// TestContractFile runs the contract on one directory, every host opening it
// on its own.
func TestContractFile(t *testing.T) {
	dir := t.TempDir()
	eventhubstest.RunTidemark(t, func(context.Context) (driver.Bucket, error) {
		return filebucket.Open(dir)
	})
}
