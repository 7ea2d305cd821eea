// Package eventhubstest states, as one test suite, the contract that the
// Event Hubs Processor (github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2)
// relies on from an azeventhubs.CheckpointStore. Any implementation runs it
// unchanged:
//
//	func TestCheckpointStoreContract(t *testing.T) {
//		ns := newFreshNamespace(t) // storage no other Run sees
//		eventhubstest.Run(t, func(t *testing.T) azeventhubs.CheckpointStore {
//			return openStore(t, ns) // one more host on the same storage
//		}, &eventhubstest.Options{Fenced: isFenced})
//	}
//
// # What the Processor relies on
//
// Each round a Processor lists the ownerships of its (namespace, event hub,
// consumer group), then claims in one ClaimOwnership call the partitions it
// keeps (with the listed ETags), the ones nobody ever owned (nil ETag) and
// the ones it takes from others (their listed ETag), all with its ClientID as
// OwnerID. A claim that loses to another write is left out of the result; it
// is not an error. A partition is free when its listed LastModifiedTime is
// older than the expiration duration or its OwnerID is "": on shutdown a
// Processor relinquishes by claiming with OwnerID "" and the ETags its last
// claim returned. A new owner resumes from ListCheckpoints: Offset first,
// SequenceNumber otherwise.
//
// # Cases
//
// Checkpoints: CheckpointRoundTrip, CheckpointOffsetOnly,
// CheckpointSequenceOnly. Ownership: CreateRenewRelinquish, ListAndClaim,
// StaleETagOmitted. Races of 8 hosts: RacingCreates, RacingUpdates.
// Fencing: ZombieCheckpoint (needs Options.Fenced). Isolation and
// validation: GroupsIsolated, BadInput.
//
// A host is one CheckpointStore value from newHost. A Checkpoint names no
// owner, so a store that fences (ZombieCheckpoint) has to remember which
// partitions its own claims won and refuse a checkpoint for one that has
// since been claimed by another host.
//
// Every case works in a consumer group named after itself (namespace
// "ns.servicebus.windows.net", event hub "hub"), so all cases of one Run
// share one storage namespace without seeing each other's data.
//
// # Weaker implementations
//
// An implementation that is known to fail a case names it in
// Options.Weaker with the reason; Run skips that case and says why. A name
// in Weaker that is not a case fails the run, so a typo cannot hide a case.
package eventhubstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// Options tune Run for one implementation.
type Options struct {
	// Weaker names the cases (by subtest name) this implementation is known to fail, with why; Run skips them saying so.
	Weaker map[string]string
	// Fenced reports whether err is the implementation's refusal of a checkpoint by a host that no longer owns the partition. nil: the ZombieCheckpoint case is skipped.
	Fenced func(error) bool
}

// The identity every case uses, apart from its own consumer group.
const (
	namespace = "ns.servicebus.windows.net"
	eventHub  = "hub"
)

// caseTimeout bounds every case, racing ones on a busy emulator included.
const caseTimeout = 2 * time.Minute

// racers is the number of hosts in the racing cases; rounds is how many
// partitions each racing case fights over, one after the other.
const (
	racers = 8
	rounds = 5
)

type testCase struct {
	name string
	fn   func(e *env)
}

var cases = []testCase{
	{"CheckpointRoundTrip", checkpointRoundTrip},
	{"CheckpointOffsetOnly", checkpointOffsetOnly},
	{"CheckpointSequenceOnly", checkpointSequenceOnly},
	{"CreateRenewRelinquish", createRenewRelinquish},
	{"ListAndClaim", listAndClaim},
	{"StaleETagOmitted", staleETagOmitted},
	{"RacingCreates", racingCreates},
	{"RacingUpdates", racingUpdates},
	{"ZombieCheckpoint", zombieCheckpoint},
	{"GroupsIsolated", groupsIsolated},
	{"BadInput", badInput},
}

// Run runs the contract. newHost returns a new CheckpointStore acting as one more host (process) on the same shared storage namespace; every call within one Run shares the namespace; each top-level Run call must get a fresh namespace from the caller (the caller arranges that).
func Run(t *testing.T, newHost func(t *testing.T) azeventhubs.CheckpointStore, opts *Options) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	known := map[string]bool{}
	for _, c := range cases {
		known[c.name] = true
	}
	for name := range opts.Weaker {
		if !known[name] {
			t.Errorf("Options.Weaker names %q, which is not a case of this suite", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := opts.Weaker[c.name]; ok {
				t.Skipf("skipped: this implementation is known to fail %s: %s", c.name, why)
			}
			ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
			defer cancel()
			c.fn(&env{
				t:       t,
				ctx:     ctx,
				newHost: newHost,
				opts:    opts,
				g:       group{ns: namespace, hub: eventHub, cg: strings.ToLower(c.name)},
			})
		})
	}
}

// group is one (namespace, event hub, consumer group) triple.
type group struct{ ns, hub, cg string }

func (g group) String() string { return g.ns + "/" + g.hub + "/" + g.cg }

// own is an ownership claim of partition in g by owner.
func (g group) own(owner, partition string, etag *azcore.ETag) azeventhubs.Ownership {
	return azeventhubs.Ownership{
		FullyQualifiedNamespace: g.ns,
		EventHubName:            g.hub,
		ConsumerGroup:           g.cg,
		PartitionID:             partition,
		OwnerID:                 owner,
		ETag:                    etag,
	}
}

// checkpoint is a checkpoint of partition in g.
func (g group) checkpoint(partition string, offset *string, seq *int64) azeventhubs.Checkpoint {
	return azeventhubs.Checkpoint{
		FullyQualifiedNamespace: g.ns,
		EventHubName:            g.hub,
		ConsumerGroup:           g.cg,
		PartitionID:             partition,
		Offset:                  offset,
		SequenceNumber:          seq,
	}
}

// env is one case's context: its test, deadline, hosts and group.
type env struct {
	t       *testing.T
	ctx     context.Context
	newHost func(t *testing.T) azeventhubs.CheckpointStore
	opts    *Options
	g       group
}

// host opens one more host on the shared namespace.
func (e *env) host() azeventhubs.CheckpointStore {
	e.t.Helper()
	h := e.newHost(e.t)
	if h == nil {
		e.t.Fatalf("newHost returned a nil CheckpointStore")
	}
	return h
}

// claim calls ClaimOwnership with asked, fails the test on an error and
// returns what it claimed by partition, after checking every returned
// ownership against the one asked for.
func (e *env) claim(h azeventhubs.CheckpointStore, what string, asked ...azeventhubs.Ownership) map[string]azeventhubs.Ownership {
	e.t.Helper()
	got, err := h.ClaimOwnership(e.ctx, asked, nil)
	if err != nil {
		e.t.Fatalf("%s: ClaimOwnership(%s) = error %v; a lost claim must be left out of the result, not an error", what, describe(asked), err)
	}
	return checkClaimed(e.t, what, asked, got)
}

// won claims o alone and fails the test unless the claim succeeded.
func (e *env) won(h azeventhubs.CheckpointStore, what string, o azeventhubs.Ownership) azeventhubs.Ownership {
	e.t.Helper()
	got, ok := e.claim(h, what, o)[o.PartitionID]
	if !ok {
		e.t.Fatalf("%s: ClaimOwnership(%s) left the partition out of its result; want it claimed", what, describe([]azeventhubs.Ownership{o}))
	}
	return got
}

// lost claims o alone and reports an error unless the claim was left out of
// the result without an error.
func (e *env) lost(h azeventhubs.CheckpointStore, what string, o azeventhubs.Ownership) {
	e.t.Helper()
	if got, ok := e.claim(h, what, o)[o.PartitionID]; ok {
		e.t.Errorf("%s: ClaimOwnership(%s) claimed it (owner %q, ETag %s); want it left out of the result", what, describe([]azeventhubs.Ownership{o}), got.OwnerID, etagString(got.ETag))
	}
}

// checkClaimed checks that every ownership in got answers one in asked: same
// identity and owner, a non-empty ETag, no partition twice. It must run on
// the test's goroutine.
func checkClaimed(t *testing.T, what string, asked, got []azeventhubs.Ownership) map[string]azeventhubs.Ownership {
	t.Helper()
	byPartition := map[string]azeventhubs.Ownership{}
	for _, a := range asked {
		byPartition[a.PartitionID] = a
	}
	out := map[string]azeventhubs.Ownership{}
	for _, o := range got {
		a, ok := byPartition[o.PartitionID]
		switch {
		case !ok:
			t.Errorf("%s: ClaimOwnership returned partition %q, which was not asked for", what, o.PartitionID)
			continue
		case o.FullyQualifiedNamespace != a.FullyQualifiedNamespace || o.EventHubName != a.EventHubName || o.ConsumerGroup != a.ConsumerGroup:
			t.Errorf("%s: ClaimOwnership returned partition %q in %s/%s/%s, asked in %s/%s/%s", what, o.PartitionID,
				o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, a.FullyQualifiedNamespace, a.EventHubName, a.ConsumerGroup)
		case o.OwnerID != a.OwnerID:
			t.Errorf("%s: ClaimOwnership returned partition %q with owner %q, asked for owner %q", what, o.PartitionID, o.OwnerID, a.OwnerID)
		case o.ETag == nil || *o.ETag == "":
			t.Errorf("%s: ClaimOwnership returned partition %q with ETag %s; the Processor needs it to renew and relinquish", what, o.PartitionID, etagString(o.ETag))
		}
		if _, dup := out[o.PartitionID]; dup {
			t.Errorf("%s: ClaimOwnership returned partition %q twice", what, o.PartitionID)
		}
		out[o.PartitionID] = o
	}
	return out
}

// owners lists g's ownerships through h, by partition, checking each one's
// identity and ETag.
func (e *env) owners(h azeventhubs.CheckpointStore, g group) map[string]azeventhubs.Ownership {
	e.t.Helper()
	list, err := h.ListOwnership(e.ctx, g.ns, g.hub, g.cg, nil)
	if err != nil {
		e.t.Fatalf("ListOwnership(%s): %v", g, err)
	}
	out := map[string]azeventhubs.Ownership{}
	for _, o := range list {
		if o.FullyQualifiedNamespace != g.ns || o.EventHubName != g.hub || o.ConsumerGroup != g.cg {
			e.t.Errorf("ListOwnership(%s) returned partition %q of %s/%s/%s", g, o.PartitionID, o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup)
		}
		if o.ETag == nil || *o.ETag == "" {
			e.t.Errorf("ListOwnership(%s): partition %q has ETag %s; the Processor claims with it", g, o.PartitionID, etagString(o.ETag))
		}
		if _, dup := out[o.PartitionID]; dup {
			e.t.Errorf("ListOwnership(%s) returned partition %q twice", g, o.PartitionID)
		}
		out[o.PartitionID] = o
	}
	return out
}

// listed returns partition's listed ownership in g and fails the test if it
// is missing or not owned by owner.
func (e *env) listed(h azeventhubs.CheckpointStore, g group, partition, owner string) azeventhubs.Ownership {
	e.t.Helper()
	o, ok := e.owners(h, g)[partition]
	if !ok {
		e.t.Fatalf("ListOwnership(%s) does not show partition %q; want it owned by %q", g, partition, owner)
	}
	if o.OwnerID != owner {
		e.t.Fatalf("ListOwnership(%s) shows partition %q owned by %q; want %q", g, partition, o.OwnerID, owner)
	}
	return o
}

// checkpoints lists g's checkpoints through h, by partition, checking each
// one's identity.
func (e *env) checkpoints(h azeventhubs.CheckpointStore, g group) map[string]azeventhubs.Checkpoint {
	e.t.Helper()
	list, err := h.ListCheckpoints(e.ctx, g.ns, g.hub, g.cg, nil)
	if err != nil {
		e.t.Fatalf("ListCheckpoints(%s): %v", g, err)
	}
	out := map[string]azeventhubs.Checkpoint{}
	for _, c := range list {
		if c.FullyQualifiedNamespace != g.ns || c.EventHubName != g.hub || c.ConsumerGroup != g.cg {
			e.t.Errorf("ListCheckpoints(%s) returned partition %q of %s/%s/%s", g, c.PartitionID, c.FullyQualifiedNamespace, c.EventHubName, c.ConsumerGroup)
		}
		if _, dup := out[c.PartitionID]; dup {
			e.t.Errorf("ListCheckpoints(%s) returned partition %q twice", g, c.PartitionID)
		}
		out[c.PartitionID] = c
	}
	return out
}

// setCheckpoint stores cp through h and fails the test on an error.
func (e *env) setCheckpoint(h azeventhubs.CheckpointStore, what string, cp azeventhubs.Checkpoint) {
	e.t.Helper()
	if err := h.SetCheckpoint(e.ctx, cp, nil); err != nil {
		e.t.Fatalf("%s: SetCheckpoint(%s): %v", what, describeCheckpoint(cp), err)
	}
}

// wantOnly fails the test unless got holds exactly want's partition, with
// want's offset and sequence number (nil meaning absent).
func (e *env) wantOnly(got map[string]azeventhubs.Checkpoint, want azeventhubs.Checkpoint) {
	e.t.Helper()
	c, ok := got[want.PartitionID]
	if !ok || len(got) != 1 {
		e.t.Fatalf("ListCheckpoints returned %s; want exactly %s", describeCheckpoints(got), describeCheckpoint(want))
	}
	e.wantCheckpoint(c, want)
}

// wantCheckpoint fails the test unless got is want.
func (e *env) wantCheckpoint(got, want azeventhubs.Checkpoint) {
	e.t.Helper()
	if got.FullyQualifiedNamespace != want.FullyQualifiedNamespace || got.EventHubName != want.EventHubName ||
		got.ConsumerGroup != want.ConsumerGroup || got.PartitionID != want.PartitionID ||
		showString(got.Offset) != showString(want.Offset) || showInt(got.SequenceNumber) != showInt(want.SequenceNumber) {
		e.t.Fatalf("listed checkpoint %s; want %s", describeCheckpoint(got), describeCheckpoint(want))
	}
}

// recent reports an error unless tm is within a minute of this machine's
// clock: implementations may report the storage's clock or the observer's.
func recent(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if d := time.Since(tm); d > time.Minute || d < -time.Minute {
		t.Errorf("%s: LastModifiedTime %v is %v away from now; want within a minute (the Processor treats an ownership older than its expiration duration as free)", what, tm, d.Round(time.Second))
	}
}

func ptr[T any](v T) *T { return &v }

func showString(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func showInt(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

func etagString(p *azcore.ETag) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", string(*p))
}

func describe(list []azeventhubs.Ownership) string {
	parts := make([]string, len(list))
	for i, o := range list {
		parts[i] = fmt.Sprintf("%s/%s/%s partition %q owner %q ETag %s",
			o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, o.PartitionID, o.OwnerID, etagString(o.ETag))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func describeCheckpoint(c azeventhubs.Checkpoint) string {
	return fmt.Sprintf("%s/%s/%s partition %q offset %s sequence %s",
		c.FullyQualifiedNamespace, c.EventHubName, c.ConsumerGroup, c.PartitionID, showString(c.Offset), showInt(c.SequenceNumber))
}

func describeCheckpoints(m map[string]azeventhubs.Checkpoint) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = describeCheckpoint(m[k])
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// ---------------------------------------------------------------- checkpoints

// checkpointRoundTrip: a checkpoint written by one host is listed by another
// with its identity and both positions, and a later one replaces it.
func checkpointRoundTrip(e *env) {
	a, b := e.host(), e.host()
	if got := e.checkpoints(b, e.g); len(got) != 0 {
		e.t.Fatalf("ListCheckpoints of a new group returned %s; want nothing", describeCheckpoints(got))
	}
	e.won(a, "host A claims partition 0", e.g.own("owner-a", "0", nil))
	first := e.g.checkpoint("0", ptr("4096"), ptr(int64(57)))
	e.setCheckpoint(a, "host A checkpoints", first)
	e.wantOnly(e.checkpoints(b, e.g), first)

	second := e.g.checkpoint("0", ptr("8192"), ptr(int64(112)))
	e.setCheckpoint(a, "host A checkpoints again", second)
	e.wantOnly(e.checkpoints(b, e.g), second)
}

// checkpointOffsetOnly: a checkpoint with an offset and no sequence number is
// listed as such; the Processor resumes from the offset.
func checkpointOffsetOnly(e *env) {
	oneField(e, e.g.checkpoint("0", ptr("4096"), nil))
}

// checkpointSequenceOnly: a checkpoint with a sequence number and no offset is
// listed as such; the Processor resumes from the sequence number.
func checkpointSequenceOnly(e *env) {
	oneField(e, e.g.checkpoint("0", nil, ptr(int64(57))))
}

func oneField(e *env, cp azeventhubs.Checkpoint) {
	a, b := e.host(), e.host()
	e.won(a, "host A claims partition 0", e.g.own("owner-a", "0", nil))
	e.setCheckpoint(a, "host A checkpoints", cp)
	e.wantOnly(e.checkpoints(b, e.g), cp)
}

// ---------------------------------------------------------------- ownership

// createRenewRelinquish walks one partition through the Processor's life
// cycle: created, listed, renewed, relinquished, taken by another host.
func createRenewRelinquish(e *env) {
	a, b := e.host(), e.host()
	if got := e.owners(b, e.g); len(got) != 0 {
		e.t.Fatalf("ListOwnership of a new group returned %d ownerships; want none", len(got))
	}

	created := e.won(a, "host A creates partition 0", e.g.own("owner-a", "0", nil))
	recent(e.t, "claim result", created.LastModifiedTime)

	listed := e.listed(b, e.g, "0", "owner-a")
	recent(e.t, "listed after create", listed.LastModifiedTime)

	renewed := e.won(a, "host A renews with the listed ETag", e.g.own("owner-a", "0", listed.ETag))
	recent(e.t, "renewal result", renewed.LastModifiedTime)
	recent(e.t, "listed after renewal", e.listed(b, e.g, "0", "owner-a").LastModifiedTime)

	e.won(a, "host A relinquishes with the ETag its renewal returned", e.g.own("", "0", renewed.ETag))
	free := e.listed(b, e.g, "0", "")

	e.won(b, "host B claims the relinquished partition with the listed ETag", e.g.own("owner-b", "0", free.ETag))
	e.listed(a, e.g, "0", "owner-b")
}

// listAndClaim: a host claims four partitions in one call; another takes one
// of them with its listed ETag; the first host's next renewal of all four
// keeps the three it still owns and leaves the lost one out, without an
// error.
func listAndClaim(e *env) {
	a, b := e.host(), e.host()
	parts := []string{"0", "1", "2", "3"}
	var asked []azeventhubs.Ownership
	for _, p := range parts {
		asked = append(asked, e.g.own("owner-a", p, nil))
	}
	mine := e.claim(a, "host A claims four partitions in one call", asked...)
	if len(mine) != len(parts) {
		e.t.Fatalf("host A claimed %d of 4 new partitions; want all four", len(mine))
	}

	listed := e.owners(b, e.g)
	for _, p := range parts {
		if o, ok := listed[p]; !ok || o.OwnerID != "owner-a" {
			e.t.Fatalf("host B's ListOwnership: partition %q owned by %q (listed %v); want owner-a", p, o.OwnerID, ok)
		}
	}
	if len(listed) != len(parts) {
		e.t.Fatalf("host B's ListOwnership returned %d ownerships; want 4", len(listed))
	}
	e.won(b, "host B takes partition 2 with the listed ETag", e.g.own("owner-b", "2", listed["2"].ETag))

	after := e.owners(a, e.g)
	for _, p := range parts {
		want := "owner-a"
		if p == "2" {
			want = "owner-b"
		}
		if o, ok := after[p]; !ok || o.OwnerID != want {
			e.t.Errorf("host A's ListOwnership after the take-over: partition %q owned by %q (listed %v); want %q", p, o.OwnerID, ok, want)
		}
	}

	var renew []azeventhubs.Ownership
	for _, p := range parts {
		renew = append(renew, e.g.own("owner-a", p, mine[p].ETag))
	}
	kept := e.claim(a, "host A renews all four with the ETags of its first claim", renew...)
	for _, p := range parts {
		_, ok := kept[p]
		switch {
		case p == "2" && ok:
			e.t.Errorf("host A's renewal of partition 2 with its old ETag succeeded; host B owns it, so it must be left out")
		case p != "2" && !ok:
			e.t.Errorf("host A's renewal of partition %q was left out; nobody else touched it, so it must succeed", p)
		}
	}
	e.listed(a, e.g, "2", "owner-b")
}

// staleETagOmitted: a claim with an ETag that no longer matches (from
// before a renewal, from before a take-over, or made up) and a create of a
// partition that exists are left out of the result without an error, and
// change nothing.
func staleETagOmitted(e *env) {
	a, b := e.host(), e.host()
	created := e.won(a, "host A creates partition 0", e.g.own("owner-a", "0", nil))
	renewed := e.won(a, "host A renews", e.g.own("owner-a", "0", created.ETag))

	// Were the ETag the same after a renewal, a host that listed before the
	// renewal could still take the partition from its renewed owner.
	e.lost(b, "host B claims with the ETag from before host A's renewal", e.g.own("owner-b", "0", created.ETag))
	e.listed(b, e.g, "0", "owner-a")

	e.won(b, "host B takes the partition with the current ETag", e.g.own("owner-b", "0", renewed.ETag))
	e.lost(a, "host A renews with the ETag from before the take-over", e.g.own("owner-a", "0", renewed.ETag))
	madeUp := azcore.ETag(`"0x8DDEADBEEFCAFE0"`)
	e.lost(a, "host A claims with a made-up ETag", e.g.own("owner-a", "0", &madeUp))
	e.lost(a, "host A creates (nil ETag) a partition that exists", e.g.own("owner-a", "0", nil))

	current := e.listed(a, e.g, "0", "owner-b")
	e.won(b, "host B renews with the listed ETag after the refused claims", e.g.own("owner-b", "0", current.ETag))
}

// ---------------------------------------------------------------- races

type raceResult struct {
	who int
	got []azeventhubs.Ownership
	err error
}

// race has every host claim its asked[i] at once (all released together) and
// returns the index of the single winner of partition, failing the test
// unless there is exactly one. Goroutines only send results; all checks run
// here.
func (e *env) race(round int, partition string, asked []azeventhubs.Ownership, hosts []azeventhubs.CheckpointStore) int {
	e.t.Helper()
	results := make(chan raceResult, len(hosts))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			<-start
			got, err := h.ClaimOwnership(e.ctx, []azeventhubs.Ownership{asked[i]}, nil)
			results <- raceResult{i, got, err}
		})
	}
	close(start)
	wg.Wait()
	close(results)
	winner := -1
	var winners, failed []int
	for r := range results {
		if r.err != nil {
			e.t.Errorf("round %d, host %d: ClaimOwnership: %v; losing a race must not be an error", round, r.who, r.err)
			failed = append(failed, r.who)
			continue
		}
		if _, ok := checkClaimed(e.t, fmt.Sprintf("round %d, host %d", round, r.who), asked[r.who:r.who+1], r.got)[partition]; ok {
			winner = r.who
			winners = append(winners, r.who)
		}
	}
	sort.Ints(winners)
	if len(failed) > 0 {
		e.t.FailNow() // the errors are reported above; later rounds would repeat them
	}
	if len(winners) != 1 {
		e.t.Fatalf("round %d: hosts %v won partition %q; want exactly one winner of %d", round, winners, partition, len(hosts))
	}
	return winner
}

// racingCreates: hosts that create one partition at once (nil ETag) have
// exactly one winner, and the listing shows it.
func racingCreates(e *env) {
	hosts := make([]azeventhubs.CheckpointStore, racers)
	for i := range hosts {
		hosts[i] = e.host()
	}
	for r := range rounds {
		partition := fmt.Sprint(r)
		asked := make([]azeventhubs.Ownership, racers)
		for i := range asked {
			asked[i] = e.g.own(fmt.Sprintf("owner-%d", i), partition, nil)
		}
		w := e.race(r, partition, asked, hosts)
		e.listed(hosts[(w+1)%racers], e.g, partition, asked[w].OwnerID)
	}
}

// racingUpdates: hosts that each list an existing partition and then claim
// it at once with the listed ETag (its current owner renewing, the others
// taking it) have exactly one winner, and the listing shows it.
func racingUpdates(e *env) {
	hosts := make([]azeventhubs.CheckpointStore, racers)
	for i := range hosts {
		hosts[i] = e.host()
	}
	for r := range rounds {
		partition := fmt.Sprint(r)
		e.won(hosts[0], fmt.Sprintf("round %d: host 0 creates partition %q", r, partition), e.g.own("owner-0", partition, nil))
		asked := make([]azeventhubs.Ownership, racers)
		for i, h := range hosts {
			o := e.listed(h, e.g, partition, "owner-0")
			asked[i] = e.g.own(fmt.Sprintf("owner-%d", i), partition, o.ETag)
		}
		w := e.race(r, partition, asked, hosts)
		e.listed(hosts[(w+1)%racers], e.g, partition, asked[w].OwnerID)
	}
}

// ---------------------------------------------------------------- fencing

// zombieCheckpoint: a host that lost its partition (and does not know it
// yet) cannot overwrite the new owner's progress.
func zombieCheckpoint(e *env) {
	if e.opts.Fenced == nil {
		e.t.Skip("skipped: Options.Fenced is nil, so this implementation does not claim to refuse a checkpoint from a host that lost the partition")
	}
	a, b := e.host(), e.host()
	e.won(a, "host A claims partition 0", e.g.own("owner-a", "0", nil))
	first := e.g.checkpoint("0", ptr("100"), ptr(int64(1)))
	e.setCheckpoint(a, "host A checkpoints while it owns the partition", first)

	listed := e.listed(b, e.g, "0", "owner-a")
	e.won(b, "host B takes the partition with the listed ETag", e.g.own("owner-b", "0", listed.ETag))

	err := a.SetCheckpoint(e.ctx, e.g.checkpoint("0", ptr("200"), ptr(int64(2))), nil)
	switch {
	case err == nil:
		e.t.Errorf("host A's checkpoint after host B took the partition was accepted; want it refused")
	case !e.opts.Fenced(err):
		e.t.Errorf("host A's checkpoint after host B took the partition failed with %v, which Options.Fenced does not recognise as a refusal", err)
	}
	got := e.checkpoints(b, e.g)
	if c, ok := got["0"]; ok && c.SequenceNumber != nil && *c.SequenceNumber == 2 {
		e.t.Fatalf("host B lists host A's refused checkpoint %s", describeCheckpoint(c))
	}
	e.wantOnly(got, first)

	third := e.g.checkpoint("0", ptr("300"), ptr(int64(3)))
	e.setCheckpoint(b, "host B checkpoints as the new owner", third)
	e.wantOnly(e.checkpoints(a, e.g), third)
}

// ---------------------------------------------------------------- isolation

// groupsIsolated: ownerships and checkpoints of one (namespace, event hub,
// consumer group) never show in another's listings, even where one name is
// a prefix of the other, and the same partition id is a separate ownership
// in each.
func groupsIsolated(e *env) {
	a, b := e.host(), e.host()
	others := []group{
		{e.g.ns, e.g.hub, e.g.cg + "-2"},
		{e.g.ns, e.g.hub + "-2", e.g.cg},
		{"ns-2.servicebus.windows.net", e.g.hub, e.g.cg},
	}

	e.won(a, "host A claims partition 0 in "+e.g.String(), e.g.own("owner-a", "0", nil))
	mine := e.g.checkpoint("0", ptr("100"), ptr(int64(1)))
	e.setCheckpoint(a, "host A checkpoints in "+e.g.String(), mine)

	for _, o := range others {
		if got := e.owners(b, o); len(got) != 0 {
			e.t.Errorf("ListOwnership(%s) shows %d ownerships; only %s has any", o, len(got), e.g)
		}
		if got := e.checkpoints(b, o); len(got) != 0 {
			e.t.Errorf("ListCheckpoints(%s) shows %s; only %s has any", o, describeCheckpoints(got), e.g)
		}
	}

	for i, o := range others {
		owner := fmt.Sprintf("owner-b%d", i)
		e.won(b, "host B creates partition 0 in "+o.String(), o.own(owner, "0", nil))
		theirs := o.checkpoint("0", ptr(fmt.Sprint(1000*(i+2))), ptr(int64(i+2)))
		e.setCheckpoint(b, "host B checkpoints in "+o.String(), theirs)
		if got := e.owners(a, o); len(got) != 1 || got["0"].OwnerID != owner {
			e.t.Errorf("ListOwnership(%s) = %d ownerships, partition 0 owned by %q; want only %q", o, len(got), got["0"].OwnerID, owner)
		}
		e.wantOnly(e.checkpoints(a, o), theirs)
	}

	if got := e.owners(b, e.g); len(got) != 1 || got["0"].OwnerID != "owner-a" {
		e.t.Errorf("ListOwnership(%s) = %d ownerships, partition 0 owned by %q; want only owner-a", e.g, len(got), got["0"].OwnerID)
	}
	e.wantOnly(e.checkpoints(b, e.g), mine)
}

// ---------------------------------------------------------------- validation

// badInput: an ownership or checkpoint missing a part of its identity is an
// error, never a panic, and leaves nothing behind.
func badInput(e *env) {
	h := e.host()
	type input struct {
		missing   string
		g         group
		partition string
	}
	inputs := []input{
		{"namespace", group{"", e.g.hub, e.g.cg}, "0"},
		{"event hub", group{e.g.ns, "", e.g.cg}, "0"},
		{"consumer group", group{e.g.ns, e.g.hub, ""}, "0"},
		{"partition id", e.g, ""},
	}
	for _, in := range inputs {
		o := in.g.own("owner-a", in.partition, nil)
		got, err := noPanic(e.t, "ClaimOwnership with no "+in.missing, func() ([]azeventhubs.Ownership, error) {
			return h.ClaimOwnership(e.ctx, []azeventhubs.Ownership{o}, nil)
		})
		if err == nil {
			e.t.Errorf("ClaimOwnership(%s) with no %s returned %s and no error; want an error", describe([]azeventhubs.Ownership{o}), in.missing, describe(got))
		}
		cp := in.g.checkpoint(in.partition, ptr("1"), ptr(int64(1)))
		if _, err := noPanic(e.t, "SetCheckpoint with no "+in.missing, func() (struct{}, error) {
			return struct{}{}, h.SetCheckpoint(e.ctx, cp, nil)
		}); err == nil {
			e.t.Errorf("SetCheckpoint(%s) with no %s succeeded; want an error", describeCheckpoint(cp), in.missing)
		}

		// Listing a group with a blank name may be refused; if it is
		// not, it must show nothing.
		listed, err := noPanic(e.t, "ListOwnership with no "+in.missing, func() ([]azeventhubs.Ownership, error) {
			return h.ListOwnership(e.ctx, in.g.ns, in.g.hub, in.g.cg, nil)
		})
		if err == nil && len(listed) != 0 {
			e.t.Errorf("ListOwnership(%s) after the refused claim with no %s returned %s; want nothing", in.g, in.missing, describe(listed))
		}
		cps, err := noPanic(e.t, "ListCheckpoints with no "+in.missing, func() ([]azeventhubs.Checkpoint, error) {
			return h.ListCheckpoints(e.ctx, in.g.ns, in.g.hub, in.g.cg, nil)
		})
		if err == nil && len(cps) != 0 {
			e.t.Errorf("ListCheckpoints(%s) after the refused checkpoint with no %s returned %d checkpoints; want none", in.g, in.missing, len(cps))
		}
	}
	if got := e.owners(h, e.g); len(got) != 0 {
		e.t.Errorf("ListOwnership(%s) after only refused claims returned %d ownerships; want none", e.g, len(got))
	}
	if got := e.checkpoints(h, e.g); len(got) != 0 {
		e.t.Errorf("ListCheckpoints(%s) after only refused checkpoints returned %s; want nothing", e.g, describeCheckpoints(got))
	}
}

// noPanic calls f, turning a panic into a test error (and a non-nil error
// for the caller).
func noPanic[T any](t *testing.T, what string, f func() (T, error)) (v T, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v; want an error", what, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}
