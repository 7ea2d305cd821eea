package conformance

import (
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

var storeCases = []testCase{
	{"MissingStore", func(t *testing.T, e *env) {
		s := e.store()
		ok, err := s.StoreExists(e.ctx)
		noErr(t, "StoreExists", err)
		if ok {
			t.Fatal("StoreExists on a fresh prefix = true")
		}
		_, _, err = s.GetCheckpoint(e.ctx, "0")
		wantErr(t, "GetCheckpoint on a missing store", err, blobstore.ErrStoreNotFound)
		_, err = s.CreateCheckpointIfNotExists(e.ctx, "0")
		wantErr(t, "CreateCheckpointIfNotExists on a missing store", err, blobstore.ErrStoreNotFound)
		_, err = s.CreateLeaseIfNotExists(e.ctx, "0")
		wantErr(t, "CreateLeaseIfNotExists on a missing store", err, blobstore.ErrStoreNotFound)
		_, err = s.ListLeases(e.ctx)
		wantErr(t, "ListLeases on a missing store", err, blobstore.ErrStoreNotFound)
		_, _, err = s.GetLease(e.ctx, "0")
		wantErr(t, "GetLease on a missing store", err, blobstore.ErrStoreNotFound)
		wantErr(t, "DeleteCheckpoint on a missing store", s.DeleteCheckpoint(e.ctx, "0"), blobstore.ErrStoreNotFound)

		noErr(t, "CreateStoreIfNotExists", s.CreateStoreIfNotExists(e.ctx))
		ok, err = s.StoreExists(e.ctx)
		noErr(t, "StoreExists", err)
		if !ok {
			t.Fatal("StoreExists after CreateStoreIfNotExists = false")
		}
		_, found, err := s.GetCheckpoint(e.ctx, "0")
		noErr(t, "GetCheckpoint on an empty store", err)
		if found {
			t.Fatal("GetCheckpoint on an empty store found a checkpoint")
		}
	}},
	{"CreateStoreIsIdempotent", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		noErr(t, "second CreateStoreIfNotExists (same store)", a.CreateStoreIfNotExists(e.ctx))
		noErr(t, "CreateStoreIfNotExists (other store)", b.CreateStoreIfNotExists(e.ctx))
		if _, found, err := b.GetLease(e.ctx, "0"); err != nil || !found {
			t.Fatalf("partition after re-creating the store: found=%v err=%v", found, err)
		}
	}},
	{"DeleteStore", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		for _, id := range []string{"0", "1", "2"} {
			e.partition(a, id)
		}
		l := e.acquire(b, "1")
		noErr(t, "DeleteStore", a.DeleteStore(e.ctx))
		ok, err := a.StoreExists(e.ctx)
		noErr(t, "StoreExists", err)
		if ok {
			t.Fatal("StoreExists after DeleteStore = true")
		}
		_, err = a.ListLeases(e.ctx)
		wantErr(t, "ListLeases after DeleteStore", err, blobstore.ErrStoreNotFound)
		wantErr(t, "owner's checkpoint after DeleteStore",
			b.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "5", SequenceNumber: 5}), blobstore.ErrLeaseLost)
		noErr(t, "DeleteStore of a missing store", a.DeleteStore(e.ctx))
		noErr(t, "CreateStoreIfNotExists after delete", a.CreateStoreIfNotExists(e.ctx))
		leases, err := a.ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if len(leases) != 0 {
			t.Fatalf("re-created store lists %d leases, want 0", len(leases))
		}
	}},
	{"PrefixesAreIsolated", func(t *testing.T, e *env) {
		outer := e.created()
		inner := e.created(func(o *blobstore.Options) { o.Prefix = e.prefix + "inner/" })
		sibling := e.created(func(o *blobstore.Options) { o.Prefix = e.prefix[:len(e.prefix)-1] + "x/" })
		e.partition(outer, "a")
		e.partition(inner, "b")
		e.partition(sibling, "c")
		for _, c := range []struct {
			s    opened
			want string
		}{{outer, "a"}, {inner, "b"}, {sibling, "c"}} {
			leases, err := c.s.ListLeases(e.ctx)
			noErr(t, "ListLeases", err)
			if len(leases) != 1 || leases[0].PartitionID != c.want {
				t.Errorf("prefix %q lists %v, want only %q", c.s.Prefix(), ids(leases), c.want)
			}
		}
		if _, found, _ := outer.GetLease(e.ctx, "b"); found {
			t.Error("outer prefix sees the inner prefix's partition")
		}
		noErr(t, "DeleteStore (outer)", outer.DeleteStore(e.ctx))
		if _, found, err := inner.GetLease(e.ctx, "b"); err != nil || !found {
			t.Errorf("inner partition after deleting the outer store: found=%v err=%v", found, err)
		}
	}},
}

func ids(leases []blobstore.Lease) []string {
	out := make([]string, len(leases))
	for i, l := range leases {
		out[i] = l.PartitionID
	}
	return out
}
