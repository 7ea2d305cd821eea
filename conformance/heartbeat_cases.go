package conformance

import (
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// Heartbeat: one presence write renews every lease its host holds (rules 5,
// 7 and 8 in blobstore/lease.go). Fencing stays on the partition record; a
// host found silent is fenced on its presence record, so a heartbeat that
// lands after it was declared dead renews nothing.
var heartbeatCases = []testCase{
	{"RenewsEveryLease", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		leases := heartbeatingLeases(t, e, a, 3)
		a.bkt.reset()
		for step := 0; step < 9; step++ { // three lease durations
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
			for _, l := range leases {
				noErr(t, "Renew", a.Renew(e.ctx, l))
			}
			snap, err := b.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
			for _, l := range snap.Leases {
				if l.Free() {
					t.Fatalf("step %d: %s's lease on %s looks free to another host while it heartbeats", step, a.Owner(), l.PartitionID)
				}
			}
		}
		wantCounts(t, "nine heartbeats and 27 renewals", a, 0, 9, 0, 0)
		for _, l := range leases {
			if !a.Holds(l) {
				t.Fatalf("%s lapsed although every heartbeat landed", l.PartitionID)
			}
			noErr(t, "checkpoint under a lease renewed only by heartbeats", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
		}
	}},
	{"FailedHeartbeatKeepsItsIncarnation", func(t *testing.T, e *env) {
		// A heartbeat that never reached the store (an outage, a timeout)
		// finds its record unchanged: it is sent again, and the leases its
		// presence renews stay renewed by it. Taking the unchanged record
		// for another writer's would start a new incarnation and leave
		// every lease to be renewed by a write of its own.
		a := e.created()
		leases := heartbeatingLeases(t, e, a, 3)
		a.bkt.reset()
		a.bkt.setFault(once("put", failBeforeApply))
		e.clock.Advance(renewInterval)
		noErr(t, "Heartbeat whose first write failed", a.Heartbeat(e.ctx))
		a.bkt.setFault(nil)
		wantCounts(t, "a failed write, its read-back and the write again", a, 1, 2, 0, 0)
		for step := 0; step < 6; step++ { // two lease durations
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
			for _, l := range leases {
				noErr(t, "Renew", a.Renew(e.ctx, l))
			}
		}
		wantCounts(t, "then six heartbeats, and renewals that cost nothing", a, 1, 8, 0, 0)
		for _, l := range leases {
			if !a.Holds(l) {
				t.Fatalf("%s lapsed", l.PartitionID)
			}
		}
	}},
	{"LeaseTakenBeforePresenceIsNotRenewed", func(t *testing.T, e *env) {
		// A lease acquired before the host's first heartbeat belongs to no
		// presence generation: only its own writes renew it.
		a := e.created()
		e.partition(a, "0")
		l := e.acquire(a, "0")
		for step := 0; step < 3; step++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		}
		if a.Holds(l) {
			t.Fatal("a lease acquired before the presence was established was renewed by heartbeats")
		}
	}},
	{"SilentHostIsFencedAndItsZombieRefused", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat", b.Heartbeat(e.ctx))
		e.partition(a, "0")
		la := e.acquire(a, "0")
		_, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		// a stops heartbeating (its process stalls); b keeps on.
		for step := 0; step < 3; step++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", b.Heartbeat(e.ctx))
			_, err := b.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
		}
		if a.Holds(la) {
			t.Fatal("a still holds its lease a lease duration after its last heartbeat")
		}
		lb, err := b.Acquire(e.ctx, "0")
		noErr(t, "Acquire of a silent host's lease", err)
		if lb.Epoch != la.Epoch+1 {
			t.Fatalf("epoch %d after %d", lb.Epoch, la.Epoch)
		}
		hosts, err := e.store().ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		for _, h := range hosts {
			if h.Name == a.Owner() && !h.Expired {
				t.Fatalf("the fenced host %q is not expired to a new observer", h.Name)
			}
		}
		// a wakes up: its heartbeat finds the fence, starts a new
		// incarnation, and renews nothing it held before.
		noErr(t, "Heartbeat of the woken host", a.Heartbeat(e.ctx))
		if a.Holds(la) {
			t.Fatal("a heartbeat after the fence renewed a lease taken over")
		}
		wantErr(t, "the zombie's checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "9"}), blobstore.ErrLeaseLost)
		noErr(t, "the new owner's checkpoint", b.UpdateCheckpoint(e.ctx, lb, blobstore.Checkpoint{Offset: "10"}))
	}},
	{"HeartbeatLandingAfterTheFenceGrantsNothing", func(t *testing.T, e *env) {
		a, b, la := heldAndWatched(t, e)
		e.clock.Advance(leaseDuration)
		scan(t, e, b)
		// a's heartbeat is on the wire when b declares a dead and takes
		// the lease; it arrives after.
		presence := e.prefix + ".hosts/" + a.Owner() + "/"
		var lb blobstore.Lease
		var acquireErr error
		a.bkt.setFault(func(op, key string) fault {
			if op == "put" && strings.HasPrefix(key, presence) && lb.Token == "" && acquireErr == nil {
				lb, acquireErr = b.Acquire(e.ctx, "0")
			}
			return none
		})
		hbErr := a.Heartbeat(e.ctx)
		a.bkt.setFault(nil)
		noErr(t, "b's Acquire while a's heartbeat was in flight", acquireErr)
		noErr(t, "a's heartbeat (it starts a new incarnation)", hbErr)
		if a.Holds(la) {
			t.Fatal("a heartbeat that landed after its host was fenced renewed the lease")
		}
		if lb.Epoch != la.Epoch+1 || lb.Owner != b.Owner() {
			t.Fatalf("b's lease = %+v, want epoch %d", lb, la.Epoch+1)
		}
		wantErr(t, "the zombie's renewal", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
		// After its new incarnation, a's heartbeats renew what it takes next.
		e.partition(a, "1")
		l1 := e.acquire(a, "1")
		for step := 0; step < 4; step++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		}
		if !a.Holds(l1) {
			t.Fatal("the new incarnation's heartbeats do not renew its new lease")
		}
	}},
	{"LiveHostIsNeverFenced", func(t *testing.T, e *env) {
		// b saw a's presence stand still, but a heartbeats just before b
		// fences: the fence fails and b takes nothing.
		a, b, la := heldAndWatched(t, e)
		e.clock.Advance(leaseDuration)
		scan(t, e, b)
		noErr(t, "a's late heartbeat", a.Heartbeat(e.ctx)) // after b's listing, before b's fence
		_, err := b.Acquire(e.ctx, "0")
		wantErr(t, "Acquire from a host that just heartbeat", err, blobstore.ErrLeaseHeld)
		if !a.Holds(la) {
			t.Fatal("a lost its lease to a failed fence")
		}
		noErr(t, "a's checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "1"}))
		hosts, err := b.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		for _, h := range hosts {
			if h.Name == a.Owner() && h.Expired {
				t.Fatal("a live host is listed expired")
			}
		}
	}},
	{"LeaveEndsTheIncarnation", func(t *testing.T, e *env) {
		// After Leave, a lease left behind is renewed by the last heartbeat
		// for a lease duration (so it can still be released), by no later
		// one, and then taken.
		a, b, la := heldAndWatched(t, e)
		noErr(t, "Leave", a.Leave(e.ctx))
		if !a.Holds(la) {
			t.Fatal("Leave ended a lease its last heartbeat renewed")
		}
		scan(t, e, b)
		noErr(t, "Heartbeat after Leave (rejoins)", a.Heartbeat(e.ctx))
		e.clock.Advance(leaseDuration - 1)
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		scan(t, e, b)
		_, err := b.Acquire(e.ctx, "0")
		wantErr(t, "Acquire within a lease duration of Leave", err, blobstore.ErrLeaseHeld)
		e.clock.Advance(1)
		if a.Holds(la) {
			t.Fatal("a heartbeat after Leave renewed a lease held before it")
		}
		scan(t, e, b)
		lb, err := b.Acquire(e.ctx, "0")
		noErr(t, "Acquire of a lease left behind", err)
		if lb.Epoch != la.Epoch+1 {
			t.Fatalf("epoch %d after %d", lb.Epoch, la.Epoch)
		}
	}},
	{"ReleaseAfterLeave", func(t *testing.T, e *env) {
		// The processor's graceful order: leave, so the others stop
		// counting this host at once, then release.
		a := e.created()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.partition(a, "0")
		la := e.acquire(a, "0")
		e.clock.Advance(2 * renewInterval)
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.clock.Advance(renewInterval)
		noErr(t, "Leave", a.Leave(e.ctx))
		noErr(t, "Release after Leave", a.Release(e.ctx, la))
	}},
	{"RevokedLeaseReturnsUnderHeartbeats", func(t *testing.T, e *env) {
		// A presence record removed under its host revokes its renewals;
		// the lease's next write names the new incarnation, whose
		// heartbeats renew it from then on, so it costs no record write.
		a := e.created()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.partition(a, "0")
		l := e.acquire(a, "0")
		bkt, err := e.h.OpenBucket(e.ctx)
		noErr(t, "OpenBucket", err)
		defer bkt.Close()
		for _, en := range e.listRaw(bkt, e.prefix+".hosts/") {
			noErr(t, "delete the presence record", bkt.Delete(e.ctx, en))
		}
		e.clock.Advance(renewInterval)
		noErr(t, "Heartbeat over a removed record", a.Heartbeat(e.ctx))
		a.bkt.reset()
		noErr(t, "Renew after the revocation", a.Renew(e.ctx, l))
		wantCounts(t, "a renewal the heartbeats no longer cover", a, 0, 1, 0, 0)
		a.bkt.reset()
		for step := 0; step < 6; step++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
			noErr(t, "Renew", a.Renew(e.ctx, l))
		}
		wantCounts(t, "six heartbeats and renewals under the new incarnation", a, 0, 6, 0, 0)
		if !a.Holds(l) {
			t.Fatal("the lease lapsed under the new incarnation's heartbeats")
		}
	}},
	{"FencedPresenceNeedsNoSecondFence", func(t *testing.T, e *env) {
		// A dead host's presence is fenced once, by whoever comes first;
		// another observer takes the rest of its leases without a second
		// fence, and without waiting another lease duration.
		a, b, c := e.created(), e.store(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		for i := 0; i < 2; i++ {
			e.partition(a, fmt.Sprint(i))
			e.acquire(a, fmt.Sprint(i))
		}
		for _, o := range []opened{b, c} {
			_, err := o.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
		}
		e.clock.Advance(leaseDuration / 2)
		for _, o := range []opened{b, c} {
			_, err := o.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
		}
		e.clock.Advance(leaseDuration / 2)
		_, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		_, err = b.Acquire(e.ctx, "0")
		noErr(t, "b's Acquire (fences a)", err)
		_, err = c.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		c.bkt.reset()
		_, err = c.Acquire(e.ctx, "1")
		noErr(t, "c's Acquire of the fenced host's other lease", err)
		if _, p, _, _ := c.bkt.counts(); p != 1 {
			t.Fatalf("c made %d writes, want 1 (no second fence)", p)
		}
		raw := e.rawUnder(e.prefix + ".hosts/" + a.Owner() + "/")
		if len(raw) != 1 || !strings.Contains(string(raw[0].Data), `"fencedBy":"`+b.Owner()) {
			t.Fatalf("a's presence records %q do not name the host that fenced it", raw)
		}
	}},
}

// listRaw returns the keys under prefix, listed through bkt.
func (e *env) listRaw(bkt driver.Bucket, prefix string) []string {
	e.t.Helper()
	var out []string
	for token := ""; ; {
		entries, next, err := bkt.List(e.ctx, prefix, token)
		if err != nil {
			e.t.Fatalf("list %q: %v", prefix, err)
		}
		for _, en := range entries {
			out = append(out, en.Key)
		}
		if next == "" {
			return out
		}
		token = next
	}
}

// rawUnder returns the objects under prefix, read with a driver of their own.
func (e *env) rawUnder(prefix string) []driver.Object {
	e.t.Helper()
	bkt, err := e.h.OpenBucket(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer bkt.Close()
	var out []driver.Object
	for token := ""; ; {
		entries, next, err := bkt.List(e.ctx, prefix, token)
		if err != nil {
			e.t.Fatalf("list %q: %v", prefix, err)
		}
		for _, en := range entries {
			out = append(out, e.raw(en.Key))
		}
		if next == "" {
			return out
		}
		token = next
	}
}

func init() {
	heartbeatCases = append(heartbeatCases, testCase{"RandomizedNeverTwoHolders", randomizedHolders})
}

// randomizedHolders drives three hosts through random heartbeats (some
// skipped, as a stalled process would), scans, acquisitions, checkpoints and
// releases on the shared manual clock, and checks after every step that no
// two hosts hold one partition at once, that epochs only grow, and that a
// checkpoint is accepted only from the host that holds the lease.
func randomizedHolders(t *testing.T, e *env) {
	const hosts, parts, steps = 3, 2, 400
	rng := newRand(e.prefix)
	var s []opened
	for i := 0; i < hosts; i++ {
		if i == 0 {
			s = append(s, e.created())
		} else {
			s = append(s, e.store())
		}
	}
	for p := 0; p < parts; p++ {
		e.partition(s[0], fmt.Sprint(p))
	}
	held := make([][]blobstore.Lease, hosts) // per host, per partition: its last lease
	for i := range held {
		held[i] = make([]blobstore.Lease, parts)
	}
	stalled := make([]bool, hosts)
	var epoch [parts]uint64
	for step := 0; step < steps; step++ {
		i, p := rng.IntN(hosts), rng.IntN(parts)
		id := fmt.Sprint(p)
		switch op := rng.IntN(10); {
		case op < 3:
			if rng.IntN(8) == 0 {
				stalled[i] = !stalled[i] // a host stalls, or wakes up
			}
			if !stalled[i] {
				_ = s[i].Heartbeat(e.ctx)
			}
		case op < 5:
			_, _ = s[i].Scan(e.ctx, nil)
		case op < 7:
			if l, err := s[i].Acquire(e.ctx, id); err == nil {
				if l.Epoch < epoch[p] {
					t.Fatalf("step %d: epoch %d after %d", step, l.Epoch, epoch[p])
				}
				epoch[p] = l.Epoch
				held[i][p] = l
			}
		case op < 9:
			if l := held[i][p]; l.Token != "" {
				holds := s[i].Holds(l)
				err := s[i].UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: fmt.Sprint(step), SequenceNumber: int64(step)})
				if err == nil && !holds {
					t.Fatalf("step %d: host %d checkpointed %s without holding it", step, i, id)
				}
				if err == nil {
					for j := range held {
						if j != i && held[j][p].Token != "" && held[j][p].Epoch > l.Epoch {
							t.Fatalf("step %d: host %d's checkpoint at epoch %d accepted after host %d took epoch %d", step, i, l.Epoch, j, held[j][p].Epoch)
						}
					}
				}
			}
		default:
			if l := held[i][p]; l.Token != "" && rng.IntN(3) == 0 {
				_ = s[i].Release(e.ctx, l)
			}
		}
		e.clock.Advance(time.Duration(rng.IntN(8000)) * time.Millisecond)
		for p := 0; p < parts; p++ {
			var holders []int
			for i := range held {
				if held[i][p].Token != "" && s[i].Holds(held[i][p]) {
					holders = append(holders, i)
				}
			}
			if len(holders) > 1 {
				t.Fatalf("step %d: hosts %v all hold partition %d", step, holders, p)
			}
		}
	}
	if epoch[0]+epoch[1] < 4 {
		t.Fatalf("only epochs %v were reached: the walk exercised no takeover", epoch)
	}
}

// newRand is a random source seeded from the case's prefix: each run
// explores another interleaving, and a failure names its prefix.
func newRand(seed string) *mrand.Rand {
	h := fnv.New64a()
	h.Write([]byte(seed))
	return mrand.New(mrand.NewPCG(h.Sum64(), 7))
}

// heldAndWatched starts a case's common scene: host a heartbeats and holds
// partition "0", and host b has listed the store once since.
func heldAndWatched(t *testing.T, e *env) (a, b opened, la blobstore.Lease) {
	t.Helper()
	a, b = e.created(), e.store()
	noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
	e.partition(a, "0")
	la = e.acquire(a, "0")
	_, err := b.Scan(e.ctx, nil)
	noErr(t, "Scan", err)
	return a, b, la
}

// scan lists the store through o, failing the case on an error.
func scan(t *testing.T, e *env, o opened) {
	t.Helper()
	_, err := o.Scan(e.ctx, nil)
	noErr(t, "Scan", err)
}

// heartbeatingLeases has a heartbeat, then create and acquire n partitions
// ("0", "1", ...): leases its heartbeats renew.
func heartbeatingLeases(t *testing.T, e *env, a opened, n int) []blobstore.Lease {
	t.Helper()
	noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
	var leases []blobstore.Lease
	for i := 0; i < n; i++ {
		e.partition(a, fmt.Sprint(i))
		leases = append(leases, e.acquire(a, fmt.Sprint(i)))
	}
	return leases
}
