package processor

// The balancing rule, as one pure function of what a host sees.
//
// Let P be the number of partitions and H the number of live hosts (hosts with
// a fresh presence record, hosts that hold a live lease, and this host). Every
// host's fair share is floor(P/H) or ceil(P/H). Each cycle a host:
//
//  1. claims free partitions (unowned, released or expired) up to floor(P/H),
//     plus one more, up to ceil(P/H), only if that one is spare: more
//     partitions are free than all hosts together still need to reach the
//     floor. Hosts that start together so share the partitions out in one
//     cycle, without stealing;
//  2. sheds (flushes, then releases) what it owns above its target, while
//     another host is below its own: the P mod H most loaded hosts (by count,
//     then name) have target ceil(P/H), the others floor(P/H). A newcomer
//     thus takes over with no event processed twice and no steal;
//  3. if nothing is free, it owns fewer than ceil(P/H), and the most loaded
//     host owns at least two more than it does, steals one partition from that
//     host: the fallback when the loaded host does not shed (it sees a
//     different group, or it is stuck). A host never steals in its first two
//     cycles, when its peers may not yet have seen it to shed to it.
//
// Once max-min <= 1 no rule fires, so a balanced group stays put. Free
// partitions are tried in an order rotated by a hash of the host's name, so
// hosts starting together rarely race for the same partition.

import (
	"hash/fnv"
	"sort"
)

// view is what one host sees in one cycle.
type view struct {
	self       string
	liveHosts  []string          // hosts with a fresh presence record
	partitions []string          // all partitions, sorted
	owner      map[string]string // partition -> live owner; absent or "" when free
}

// plan is what the host should do in this cycle.
type plan struct {
	claim []string // free partitions to try, in order; stop at the claim limit
	limit int      // how many of claim to take at most
	shed  []string // own partitions to hand over
	steal string   // a partition to steal, or ""
}

func share(p, h int) (floor, ceil int) {
	if h == 0 {
		return p, p
	}
	return p / h, (p + h - 1) / h
}

func planCycle(v view) plan {
	live := map[string]bool{v.self: true}
	for _, h := range v.liveHosts {
		live[h] = true
	}
	counts := map[string]int{}
	var free, mineIDs []string
	for _, p := range v.partitions {
		o := v.owner[p]
		switch o {
		case "":
			free = append(free, p)
			continue
		case v.self:
			mineIDs = append(mineIDs, p)
		}
		live[o] = true // a host holding a live lease is alive
		counts[o]++
	}
	floor, ceil := share(len(v.partitions), len(live))
	mine := counts[v.self]

	// Each host's target: the P mod H most loaded hosts (by count, then
	// name) keep ceil(P/H), the others floor(P/H). A host above its target
	// sheds down to it while another is below its own, so a join resolves by
	// graceful handovers alone.
	hostsByLoad := make([]string, 0, len(live))
	for h := range live {
		hostsByLoad = append(hostsByLoad, h)
	}
	sort.Slice(hostsByLoad, func(i, j int) bool {
		a, b := hostsByLoad[i], hostsByLoad[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		return a < b
	})
	target := map[string]int{}
	for rank, h := range hostsByLoad {
		target[h] = floor
		if rank < len(v.partitions)-floor*len(live) {
			target[h] = ceil
		}
	}
	var pl plan
	needy := false
	for h := range live {
		if h != v.self && counts[h] < target[h] {
			needy = true
		}
	}
	if mine > ceil || (mine > target[v.self] && needy) {
		pl.shed = mineIDs[target[v.self]:] // the highest ids: deterministic
		return pl
	}
	if len(free) > 0 && mine < ceil {
		toFloor := max(floor-mine, 0)
		othersNeed := 0
		for h := range live {
			if h != v.self {
				othersNeed += max(floor-counts[h], 0)
			}
		}
		want := toFloor
		if mine+toFloor < ceil && len(free)-othersNeed-toFloor > 0 {
			want++ // a spare partition nobody needs to reach the floor
		}
		if pl.limit = min(want, len(free)); pl.limit > 0 {
			pl.claim = rotate(free, v.self)
			return pl
		}
	}
	if mine >= ceil || len(free) > 0 {
		return pl // never steal while something is free
	}
	victim, most := "", -1
	hosts := make([]string, 0, len(counts))
	for h := range counts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if h != v.self && counts[h] > most {
			victim, most = h, counts[h]
		}
	}
	if victim == "" || most-mine < 2 {
		return pl
	}
	// Steal the victim's last partition in order: deterministic, and two
	// under-loaded hosts stealing from one victim pick the same one, so one
	// wins and the other tries again next cycle instead of both succeeding.
	for i := len(v.partitions) - 1; i >= 0; i-- {
		if p := v.partitions[i]; v.owner[p] == victim {
			pl.steal = p
			break
		}
	}
	return pl
}

// rotate returns ps starting at a position derived from name.
func rotate(ps []string, name string) []string {
	h := fnv.New32a()
	h.Write([]byte(name))
	k := int(h.Sum32() % uint32(len(ps)))
	out := make([]string, 0, len(ps))
	out = append(out, ps[k:]...)
	return append(out, ps[:k]...)
}

// empty reports whether the plan does nothing.
func (pl plan) empty() bool { return len(pl.claim) == 0 && len(pl.shed) == 0 && pl.steal == "" }

// settled reports whether the view needs nothing from anyone: no partition
// is free, and every live host owns floor(P/H) or ceil(P/H).
func (v view) settled() bool {
	live := map[string]bool{v.self: true}
	for _, h := range v.liveHosts {
		live[h] = true
	}
	counts := map[string]int{}
	for _, p := range v.partitions {
		o := v.owner[p]
		if o == "" {
			return false
		}
		live[o] = true
		counts[o]++
	}
	floor, ceil := share(len(v.partitions), len(live))
	for h := range live {
		if counts[h] < floor || counts[h] > ceil {
			return false
		}
	}
	return true
}
