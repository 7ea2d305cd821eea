package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// TransportFault is a provider test's handle on the HTTP transport beneath
// its driver.
type TransportFault interface {
	// LoseNextWriteResponse makes the transport send the next write to the
	// service and then drop its response, as a connection reset after the
	// request was sent does.
	LoseNextWriteResponse()
	// Lost reports how many responses the transport has dropped.
	Lost() int
}

// RunLostWriteResponse checks, through a provider's real transport, that a
// checkpoint whose write landed but whose response was lost is acknowledged
// (the Store reads back and finds its own bytes), and that the next write
// needs no read. drv must be a driver over that transport; the check uses its
// own prefix.
func RunLostWriteResponse(t *testing.T, drv driver.Bucket, f TransportFault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := blobstore.New(drv, &blobstore.Options{Prefix: "lost-" + randomHex(4) + "/", Owner: "host-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	noErr(t, "CreateStoreIfNotExists", s.CreateStoreIfNotExists(ctx))
	_, err = s.CreateLeaseIfNotExists(ctx, "0")
	noErr(t, "CreateLeaseIfNotExists", err)
	l, err := s.Acquire(ctx, "0")
	noErr(t, "Acquire", err)
	before := f.Lost()
	f.LoseNextWriteResponse()
	noErr(t, "UpdateCheckpoint whose response was lost", s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 7}))
	if f.Lost() != before+1 {
		t.Fatal("the transport dropped no response: the fault was not injected")
	}
	cp, found, err := s.GetCheckpoint(ctx, "0")
	if err != nil || !found || cp.Offset != "42" || cp.SequenceNumber != 7 {
		t.Fatalf("GetCheckpoint = %+v found=%v err=%v, want offset 42 sequence 7", cp, found, err)
	}
	noErr(t, "next UpdateCheckpoint", s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "43", SequenceNumber: 8}))
}
