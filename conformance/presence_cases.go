package conformance

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

// Presence: every live host is visible, also one that owns nothing.
var presenceCases = []testCase{
	{"HeartbeatAndList", func(t *testing.T, e *env) {
		a := e.created()
		b := e.store(func(o *blobstore.Options) { o.Owner = "host/with slash" })
		noErr(t, "Heartbeat a", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat b", b.Heartbeat(e.ctx))
		hosts, err := e.store().ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		if len(hosts) != 2 || hosts[0].Name != a.Owner() || hosts[1].Name != b.Owner() {
			t.Fatalf("ListHosts = %+v, want %s and %s", hosts, a.Owner(), b.Owner())
		}
		e.partition(a, "0")
		leases, err := a.ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if len(leases) != 1 {
			t.Fatalf("presence records leak into ListLeases: %v", ids(leases))
		}
	}},
	{"SilentHostExpires", func(t *testing.T, e *env) {
		a, b, obs := e.created(), e.store(), e.store()
		noErr(t, "Heartbeat a", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat b", b.Heartbeat(e.ctx))
		_, err := obs.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		for i := 0; i < 3; i++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat a", a.Heartbeat(e.ctx)) // b has gone silent
		}
		hosts, err := obs.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		state := map[string]bool{}
		for _, h := range hosts {
			state[h.Name] = h.Expired
		}
		if state[a.Owner()] || !state[b.Owner()] {
			t.Fatalf("expired: %v; want only %s (silent for a lease duration)", state, b.Owner())
		}
	}},
	{"LeaveRemovesAtOnce", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		noErr(t, "Heartbeat a", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat b", b.Heartbeat(e.ctx))
		noErr(t, "Leave", b.Leave(e.ctx))
		hosts, err := a.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		if len(hosts) != 1 || hosts[0].Name != a.Owner() {
			t.Fatalf("ListHosts after Leave = %+v", hosts)
		}
		noErr(t, "Heartbeat after Leave (rejoin)", b.Heartbeat(e.ctx))
	}},
	{"RestartWithTheSameName", func(t *testing.T, e *env) {
		old := e.created(func(o *blobstore.Options) { o.Owner = "stable-name" })
		noErr(t, "Heartbeat", old.Heartbeat(e.ctx))
		noErr(t, "Heartbeat", old.Heartbeat(e.ctx))
		restarted := e.store(func(o *blobstore.Options) { o.Owner = "stable-name" })
		noErr(t, "Heartbeat of a restarted host over its old record", restarted.Heartbeat(e.ctx))
		restarted.bkt.reset()
		noErr(t, "next Heartbeat", restarted.Heartbeat(e.ctx))
		wantCounts(t, "a heartbeat", restarted, 0, 1, 0, 0)
	}},
	{"CorruptPresenceReported", func(t *testing.T, e *env) {
		a := e.created()
		e.putRaw(e.prefix+".hosts/x.json", []byte("garbage"))
		_, err := a.ListHosts(e.ctx)
		wantErr(t, "ListHosts over a corrupt record", err, blobstore.ErrCorrupt)
		if !strings.Contains(err.Error(), ".hosts/x.json") {
			t.Fatalf("error does not name the key: %v", err)
		}
	}},
}
