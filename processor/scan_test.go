package processor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/clocktest"
)

// unreadableKey is a membucket whose reads of one key always fail, as a
// record behind a broken disk or a permissions slip would.
type unreadableKey struct {
	*membucket.Bucket
	key string
}

func (b unreadableKey) Get(ctx context.Context, key string) (driver.Object, error) {
	if key == b.key {
		return driver.Object{}, errors.New("injected: read failed")
	}
	return b.Bucket.Get(ctx, key)
}

// addOn starts a host whose store goes through bkt.
func (g *group) addOn(name string, bkt driver.Bucket) *member {
	g.t.Helper()
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(g.elapsed))
	s, err := blobstore.New(bkt, &blobstore.Options{Owner: name, LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
	if err != nil {
		g.t.Fatal(err)
	}
	return g.join(name, s, clock)
}

// One record no host can read leaves that partition unowned and balances the
// others: a read that fails is never a failed cycle.
func TestOneUnreadableRecordNeverStopsBalancing(t *testing.T) {
	g := newGroup(t, 13)
	for _, name := range []string{"a", "b", "c"} {
		g.addOn(name, unreadableKey{membucket.Open(g.ns), "5.json"})
	}
	for r := 0; r < 6; r++ {
		g.advance(testRenew)
		g.round()
	}
	per, orphans := g.counts()
	if orphans != 1 {
		t.Fatalf("%d partitions unowned (%v); want only the unreadable one", orphans, per)
	}
	lo, hi := 1<<30, -1
	for _, c := range per {
		lo, hi = min(lo, c), max(hi, c)
	}
	if hi-lo > 1 || hi+lo == 0 {
		t.Fatalf("the 12 readable partitions are not balanced: %v", per)
	}
	for _, m := range g.hosts {
		for _, id := range m.h.Owned() {
			if id == "5" {
				t.Fatalf("%s owns the unreadable partition", m.h.Name())
			}
		}
	}
}
