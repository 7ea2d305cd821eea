package conformance

import (
	"context"
	"errors"
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

// OverwriteFault is a TransportFault that can let another host write between
// the lost write landing and its failure reaching the client (and so before
// any retry the client makes, and before the Store reads back).
type OverwriteFault interface {
	TransportFault
	// LoseNextWriteResponseThen is LoseNextWriteResponse, calling then after
	// the write was applied and before its failure is returned.
	LoseNextWriteResponseThen(then func())
}

// RunLostThenOverwritten checks, through a provider's real transport (and its
// SDK's retries), that a checkpoint which landed, lost its response, and was
// overwritten by another host before the owner could read it back, is
// reported as ErrOutcomeUnknown and never as a refusal, and that the owner's
// next write learns it lost the lease. drvA must be a driver over f's transport, drvB another driver on
// the same bucket.
func RunLostThenOverwritten(t *testing.T, drvA, drvB driver.Bucket, f OverwriteFault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := "overwritten-" + randomHex(4) + "/"
	a, err := blobstore.New(drvA, &blobstore.Options{Prefix: prefix, Owner: "host-a"})
	noErr(t, "New", err)
	defer a.Close()
	b, err := blobstore.New(drvB, &blobstore.Options{Prefix: prefix, Owner: "host-b"})
	noErr(t, "New", err)
	defer b.Close()
	noErr(t, "CreateStoreIfNotExists", a.CreateStoreIfNotExists(ctx))
	_, err = a.CreateLeaseIfNotExists(ctx, "0")
	noErr(t, "CreateLeaseIfNotExists", err)
	l, err := a.Acquire(ctx, "0")
	noErr(t, "Acquire", err)

	before := f.Lost()
	var stealErr error
	f.LoseNextWriteResponseThen(func() { _, stealErr = b.Steal(ctx, "0") })
	err = a.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 42})
	if f.Lost() != before+1 {
		t.Fatal("the transport dropped no response: the fault was not injected")
	}
	noErr(t, "the other host's Steal", stealErr)
	if errors.Is(err, blobstore.ErrLeaseLost) || errors.Is(err, blobstore.ErrLeaseHeld) {
		t.Fatalf("a checkpoint that landed was reported as a refusal: %v", err)
	}
	wantErr(t, "a checkpoint that landed and was overwritten before the read-back", err, blobstore.ErrOutcomeUnknown)
	cp, _, err := b.GetCheckpoint(ctx, "0")
	noErr(t, "GetCheckpoint", err)
	if cp.Offset != "42" {
		t.Fatalf("stored checkpoint %+v: the owner's write did not land, so the fault was not the one meant", cp)
	}
	wantErr(t, "the owner's next checkpoint", a.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "43"}), blobstore.ErrLeaseLost)
}
