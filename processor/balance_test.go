package processor

import (
	"fmt"
	"testing"
	"time"
)

func TestPlanCycle(t *testing.T) {
	parts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("p%02d", i)
		}
		return out
	}
	owned := func(ps []string, spec map[string][2]int) map[string]string {
		m := map[string]string{}
		for host, r := range spec {
			for i := r[0]; i < r[1]; i++ {
				m[ps[i]] = host
			}
		}
		return m
	}
	ps := parts(10)
	for _, c := range []struct {
		name      string
		v         view
		wantLimit int
		wantSteal string
	}{
		{"alone, all free: claim everything", view{self: "a", partitions: ps, owner: map[string]string{}}, 10, ""},
		{"two hosts, all free: claim the floor", view{self: "a", liveHosts: []string{"a", "b"}, partitions: ps, owner: map[string]string{}}, 5, ""},
		{"three hosts, all free: floor, and the spare one", view{self: "a", liveHosts: []string{"a", "b", "c"}, partitions: ps, owner: map[string]string{}}, 4, ""},
		{"three hosts, first took the spare: floor only", view{self: "b", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 4}})}, 3, ""},
		{"three hosts, own the floor, one free: one more up to ceil", view{self: "c", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 3}, "b": {3, 6}, "c": {6, 9}})}, 1, ""},
		{"three hosts, the last one, three free: floor only", view{self: "c", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 4}, "b": {4, 7}})}, 3, ""},
		{"at ceil: nothing", view{self: "a", liveHosts: []string{"a", "b"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 5}, "b": {5, 9}})}, 0, ""},
		{"newcomer seen only by presence steals from the most loaded", view{self: "c", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 5}, "b": {5, 10}})}, 0, "p04"},
		{"over the ceiling: shed the surplus", view{self: "a", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 6}, "b": {6, 10}})}, 0, ""},
		{"gap of one: stay put", view{self: "c", liveHosts: []string{"a", "b", "c"}, partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 4}, "b": {4, 7}, "c": {7, 10}})}, 0, ""},
		{"live lease owner without presence still counts", view{self: "b", partitions: ps,
			owner: owned(ps, map[string][2]int{"a": {0, 10}})}, 0, "p09"},
		{"no partitions", view{self: "a"}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl := planCycle(c.v)
			if c.name == "over the ceiling: shed the surplus" && fmt.Sprint(pl.shed) != "[p04 p05]" {
				t.Fatalf("shed %v, want [p04 p05]", pl.shed)
			}
			if pl.limit != c.wantLimit || pl.steal != c.wantSteal {
				t.Fatalf("plan = limit %d steal %q (claim %v), want limit %d steal %q", pl.limit, pl.steal, pl.claim, c.wantLimit, c.wantSteal)
			}
			for _, p := range pl.claim {
				if c.v.owner[p] != "" {
					t.Fatalf("plan claims %s, owned by %s", p, c.v.owner[p])
				}
			}
		})
	}
}

// 64 partitions over 1 to 9 hosts starting together converge to max-min <= 1
// and then stay put: no steal, no change of owner, for 10 cycles.
func TestBalanceConvergesAndStays(t *testing.T) {
	for hosts := 1; hosts <= 9; hosts++ {
		t.Run(fmt.Sprintf("%d hosts", hosts), func(t *testing.T) {
			g := newGroup(t, 64)
			for i := 0; i < hosts; i++ {
				g.add(fmt.Sprintf("h%d", i), 0)
			}
			rounds := g.settle(64)
			steals := g.steals()
			before, _ := g.counts()
			owned := map[string][]string{}
			for _, m := range g.hosts {
				owned[m.h.Name()] = m.h.Owned()
			}
			for i := 0; i < 10; i++ {
				g.advance(testRenew)
				g.round()
			}
			if s := g.steals(); s != steals {
				t.Fatalf("%d steals in the 10 cycles after balancing", s-steals)
			}
			for _, m := range g.hosts {
				if got := fmt.Sprint(m.h.Owned()); got != fmt.Sprint(owned[m.h.Name()]) {
					t.Fatalf("%s's partitions changed after balancing: %v -> %s", m.h.Name(), owned[m.h.Name()], got)
				}
			}
			t.Logf("%d hosts: balanced %v after %d rounds with %d steals", hosts, before, rounds, steals)
		})
	}
}

// Hosts joining one per cycle converge too, by graceful handovers alone (no
// steal), and then stay put.
func TestStaggeredJoinsConverge(t *testing.T) {
	for hosts := 2; hosts <= 9; hosts++ {
		t.Run(fmt.Sprintf("%d hosts", hosts), func(t *testing.T) {
			g := newGroup(t, 64)
			for i := 0; i < hosts; i++ {
				g.add(fmt.Sprintf("h%d", i), 0)
				g.advance(testRenew)
				g.round()
			}
			rounds := g.settle(64)
			steals, shed := g.steals(), int64(0)
			for _, m := range g.hosts {
				shed += m.h.Stats().Shed
			}
			for i := 0; i < 10; i++ {
				g.advance(testRenew)
				g.round()
			}
			if s := g.steals(); s != steals {
				t.Fatalf("%d steals in the 10 cycles after balancing", s-steals)
			}
			if !g.balanced() {
				per, _ := g.counts()
				t.Fatalf("unbalanced again: %v", per)
			}
			if steals != 0 {
				t.Fatalf("joins took %d partitions by force; the loaded hosts should have handed them over", steals)
			}
			per, _ := g.counts()
			t.Logf("%d hosts joining one per cycle: %v after %d more rounds; %d handed over gracefully, %d stolen", hosts, per, rounds, shed, steals)
		})
	}
}

// A killed host's partitions are owned again within lease duration + renew
// interval + one balancing cycle.
func TestFailoverWithinBound(t *testing.T) {
	g := newGroup(t, 32)
	a, b, c := g.add("a", 0), g.add("b", 0), g.add("c", 0)
	g.settle(32)
	g.kill(c)
	bound := testLease + testRenew + testRenew // one cycle = one renew interval
	var elapsed time.Duration
	for ; ; elapsed += testRenew {
		if _, orphans := g.counts(); orphans == 0 {
			break
		}
		if elapsed > bound {
			per, orphans := g.counts()
			t.Fatalf("after %v still %d orphaned partitions (%v)", elapsed, orphans, per)
		}
		g.advance(testRenew)
		g.round()
	}
	t.Logf("failover took %v of simulated time (bound %v); a=%d b=%d", elapsed, bound, len(a.h.Owned()), len(b.h.Owned()))
	if !g.balanced() {
		g.settle(16)
	}
}

// A host that shuts down gracefully hands over within one balancing cycle.
func TestGracefulHandoffWithinOneCycle(t *testing.T) {
	g := newGroup(t, 32)
	g.add("a", 0)
	g.add("b", 0)
	c := g.add("c", 0)
	g.settle(32)
	had := len(c.h.Owned())
	g.shutdown(c)
	if c.h.Stats().Released != int64(had) {
		t.Fatalf("released %d of %d leases", c.h.Stats().Released, had)
	}
	g.round() // one cycle, no time passing
	if per, orphans := g.counts(); orphans != 0 {
		t.Fatalf("after one cycle %d partitions are orphaned (%v)", orphans, per)
	}
}

// A newcomer that owns nothing is counted through presence and gets its share.
func TestNewcomerGetsItsShare(t *testing.T) {
	g := newGroup(t, 32)
	g.add("a", 0)
	g.add("b", 0)
	g.settle(32)
	d := g.add("d", 0)
	g.settle(32)
	if n := len(d.h.Owned()); n < 10 {
		t.Fatalf("newcomer owns %d of 32 with 3 hosts", n)
	}
}

// Hosts whose clocks are an hour apart never double-own, through churn.
func TestClockSkewNeverDoubleOwns(t *testing.T) {
	g := newGroup(t, 24)
	g.add("ahead", time.Hour)
	g.add("behind", -time.Hour)
	g.add("exact", 0)
	g.settle(32)
	g.kill(g.hosts[1])
	for i := 0; i < 8; i++ {
		g.advance(testRenew)
		g.round()
	}
	g.add("late", -time.Hour)
	g.settle(48)
	// recorder's cleanup check fails the test on any partition/epoch opened twice
}
