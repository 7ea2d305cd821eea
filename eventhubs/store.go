package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/internal/quietlog"
)

// ErrNotOwner is returned by SetCheckpoint for a partition whose ownership
// this CheckpointStore does not hold: never claimed through it, relinquished,
// or taken by another processor since. It wraps blobstore.ErrLeaseLost.
var ErrNotOwner = fmt.Errorf("%w: this checkpoint store does not own the partition", blobstore.ErrLeaseLost)

// Options configure a CheckpointStore. A nil *Options means the defaults.
type Options struct {
	// ServerTime reports LastModifiedTime as the storage service's time of
	// the last write of the partition's record or of its owner's presence
	// record, as the SDK's blob store does, instead of this process's
	// clock minus how long the ownership has been seen unchanged. A newly
	// started Processor then takes a dead one's partitions as soon as they
	// look expired, instead of one expiry after it started; but expiry
	// compares the storage service's clock with this machine's, so their
	// skew moves it. Where a provider's listing gives no time, the
	// observer's clock is used. Default false.
	ServerTime bool
	// Logger receives what the Processor's contract cannot return as an
	// error: claims that failed for a reason other than losing a race.
	// An identical warning (same message, group, owner and partition) is
	// logged at most once a minute, the next one with the number dropped
	// in between ("repeated"). Default: discarded.
	Logger *slog.Logger
}

// CheckpointStore is an azeventhubs.CheckpointStore on a Tidemark store: the
// Event Hubs Processor's ownership and checkpoints on S3, GCS, Azure Blob
// Storage, a file system or memory. See the package documentation.
//
// It is safe for concurrent use. It serves one Processor per consumer group:
// give each Processor a CheckpointStore of its own (a Checkpoint names no
// owner, so a store shared by two Processors of one group could not tell
// whose checkpoint it is given); claims from a second ClientID in a group
// fail with blobstore.ErrInvalidArgument.
type CheckpointStore struct {
	root       *blobstore.Store
	owns       bool // Close closes root
	serverTime bool
	log        *slog.Logger
	mu         sync.Mutex
	closed     bool
	group      map[groupKey]*group
}

var _ azeventhubs.CheckpointStore = (*CheckpointStore)(nil)

// NewCheckpointStore returns a CheckpointStore over store. Each consumer
// group's records live below store's prefix at
// <namespace>/<event hub>/<consumer group>/. Close the CheckpointStore before
// store.
func NewCheckpointStore(store *blobstore.Store, opts *Options) (*CheckpointStore, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: eventhubs.NewCheckpointStore needs a store", blobstore.ErrInvalidArgument)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	log := slog.New(slog.DiscardHandler)
	if o.Logger != nil {
		log = slog.New(quietlog.New(o.Logger.Handler(), time.Minute, nil))
	}
	return &CheckpointStore{root: store, serverTime: o.ServerTime, log: log, group: map[groupKey]*group{}}, nil
}

// Open opens the Tidemark store at url (see blobstore.Open) and returns a
// CheckpointStore over it; Close closes both.
func Open(ctx context.Context, url string, opts *Options) (*CheckpointStore, error) {
	store, err := blobstore.Open(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c, err := NewCheckpointStore(store, opts)
	if err != nil {
		store.Close()
		return nil, err
	}
	c.owns = true
	return c, nil
}

// Close closes the stores the CheckpointStore opened. It does not
// relinquish anything: the Processor does that when Run returns.
func (c *CheckpointStore) Close() error {
	c.mu.Lock()
	groups := c.group
	c.group, c.closed = map[groupKey]*group{}, true
	c.mu.Unlock()
	for _, g := range groups {
		g.close()
	}
	if c.owns {
		return c.root.Close()
	}
	return nil
}

type groupKey struct{ namespace, hub, consumerGroup string }

// group is one consumer group's state: a Store per owner (Processor
// ClientID), and the leases each holds.
type group struct {
	key    groupKey
	prefix string
	root   *blobstore.Store

	mu       sync.Mutex
	ready    bool // the group's store marker exists
	observer *blobstore.Store
	proc     *owner // the one Processor that claims through this store, once it has
	// settled is true when the last listing showed every partition owned
	// by a live owner within its fair share, with the same live hosts as
	// the listing before: the next listing need not read the records that
	// changed under live owners (their checkpoints).
	settled  bool
	lastLive []string
}

// owner is one Processor's view: its ClientID, its Store, and the leases it
// holds.
type owner struct {
	id    string
	store *blobstore.Store
	mu    sync.Mutex
	held  map[string]blobstore.Lease
}

func (g *group) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc != nil {
		g.proc.store.Close()
	}
	if g.observer != nil {
		g.observer.Close()
	}
}

// groupOf returns the group named by the three identity fields, which must
// be usable as folder names.
func (c *CheckpointStore) groupOf(namespace, hub, consumerGroup string) (*group, error) {
	for _, f := range []struct{ what, v string }{{"namespace", namespace}, {"event hub", hub}, {"consumer group", consumerGroup}} {
		if f.v == "" || strings.Contains(f.v, "/") || f.v == "." || f.v == ".." || strings.HasPrefix(f.v, ".") {
			return nil, fmt.Errorf("%w: the %s %q cannot name a folder (it is empty, contains /, or starts with .)", blobstore.ErrInvalidArgument, f.what, f.v)
		}
	}
	k := groupKey{namespace, hub, consumerGroup}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, blobstore.ErrClosed
	}
	if g, ok := c.group[k]; ok {
		return g, nil
	}
	g := &group{key: k, prefix: namespace + "/" + hub + "/" + consumerGroup + "/", root: c.root}
	c.group[k] = g
	return g, nil
}

// prepare creates the group's store marker once.
func (g *group) prepare(ctx context.Context, s *blobstore.Store) error {
	g.mu.Lock()
	ready := g.ready
	g.mu.Unlock()
	if ready {
		return nil
	}
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	g.ready = true
	g.mu.Unlock()
	return nil
}

// ownerOf returns the state of the Processor with ClientID id: the first to
// claim in the group through this CheckpointStore. A checkpoint names no
// owner, so a store serving two Processors of one group could not tell a
// zombie's checkpoint from its new owner's: a second ClientID is refused.
func (g *group) ownerOf(id string) (*owner, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.proc != nil && g.proc.id == id:
		return g.proc, nil
	case g.proc != nil:
		return nil, fmt.Errorf("%w: this CheckpointStore already serves Processor %q in %s; give Processor %q a CheckpointStore of its own (a checkpoint names no owner, so one store cannot tell whose it is)",
			blobstore.ErrInvalidArgument, g.proc.id, strings.TrimSuffix(g.prefix, "/"), id)
	}
	s, err := g.root.Sub(g.prefix, id)
	if err != nil {
		return nil, err
	}
	g.proc = &owner{id: id, store: s, held: map[string]blobstore.Lease{}}
	return g.proc, nil
}

// lister returns the Store that lists the group: an observer of its own,
// from the first listing on, so that how long it has seen each ownership
// unchanged (LastModifiedTime) never starts over when the Processor first
// claims. (A take reads the record itself before it writes, so the owner's
// Store needs no listing.)
func (g *group) lister() (*blobstore.Store, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.observer == nil {
		s, err := g.root.Sub(g.prefix, "")
		if err != nil {
			return nil, err
		}
		g.observer = s
	}
	return g.observer, nil
}

// holder returns the Processor that holds partition id through this
// store, if any.
func (g *group) holder(id string) (*owner, blobstore.Lease, bool) {
	g.mu.Lock()
	o := g.proc
	g.mu.Unlock()
	if o == nil {
		return nil, blobstore.Lease{}, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	l, ok := o.held[id]
	return o, l, ok
}

// scan lists the group. readAll reads every record whose version changed;
// otherwise the group's settledness decides.
func (g *group) scan(ctx context.Context, readAll bool) (blobstore.Snapshot, error) {
	s, err := g.lister()
	if err != nil {
		return blobstore.Snapshot{}, err
	}
	if err := g.prepare(ctx, s); err != nil {
		return blobstore.Snapshot{}, err
	}
	g.mu.Lock()
	readChanged := readAll || !g.settled
	g.mu.Unlock()
	return s.Scan(ctx, &blobstore.ScanOptions{ReadChanged: readChanged})
}

// ListOwnership lists every ownership of the consumer group ever written,
// relinquished ones included. It costs one listing of the group (a request
// per 1,000 keys on S3 and GCS) and a read of each record whose version
// changed in a way that can change the balance: in a steady group, none.
// LastModifiedTime is this process's clock minus how long this store has
// seen neither the record nor the owner's presence record change, so expiry
// never depends on another machine's clock.
func (c *CheckpointStore) ListOwnership(ctx context.Context, namespace, eventHub, consumerGroup string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	g, err := c.groupOf(namespace, eventHub, consumerGroup)
	if err != nil {
		return nil, err
	}
	snap, err := g.scan(ctx, false)
	if err != nil {
		return nil, err
	}
	c.logUnreadable(g, snap)
	now := time.Now()
	alive := map[string]blobstore.Host{}
	var live []string
	for _, h := range snap.Hosts {
		if !h.Expired {
			alive[h.Name] = h
			live = append(live, h.Name)
		}
	}
	out := make([]azeventhubs.Ownership, 0, len(snap.Leases))
	for _, l := range snap.Leases {
		h, renewed := alive[l.Owner]
		renewed = renewed && l.Owner != ""
		still := l.UnchangedFor
		if renewed {
			still = min(still, h.UnchangedFor)
		}
		modified := now.Add(-still)
		if c.serverTime && !l.ModifiedAt.IsZero() {
			modified = l.ModifiedAt
			if renewed && h.ModifiedAt.After(modified) {
				modified = h.ModifiedAt
			}
		}
		etag := azcore.ETag(l.Version)
		out = append(out, azeventhubs.Ownership{
			FullyQualifiedNamespace: namespace, EventHubName: eventHub, ConsumerGroup: consumerGroup,
			PartitionID: l.PartitionID, OwnerID: l.Owner, LastModifiedTime: modified, ETag: &etag,
		})
	}
	g.noteSettled(snap.Leases, live)
	return out, nil
}

// noteSettled records whether the listing showed a settled group: every
// partition owned, by owners within floor..ceil of their fair share, with the
// same live hosts as the listing before.
func (g *group) noteSettled(leases []blobstore.Lease, live []string) {
	counts := map[string]int{}
	for _, h := range live {
		counts[h] += 0
	}
	settled := true
	for _, l := range leases {
		if l.Free() {
			settled = false
			break
		}
		counts[l.Owner]++
	}
	if settled && len(counts) > 0 {
		floor, ceil := len(leases)/len(counts), (len(leases)+len(counts)-1)/len(counts)
		for _, n := range counts {
			if n < floor || n > ceil {
				settled = false
			}
		}
	}
	slices.Sort(live)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.settled = settled && slices.Equal(live, g.lastLive)
	g.lastLive = live
}

// logUnreadable reports records the listing could not use.
func (c *CheckpointStore) logUnreadable(g *group, snap blobstore.Snapshot) {
	for _, ce := range snap.Corrupt {
		c.log.Warn("unreadable ownership record left out", "group", g.prefix, "key", ce.Key, "reason", ce.Reason)
	}
	for id, err := range snap.Failed {
		c.log.Warn("ownership record could not be read this time", "group", g.prefix, "partition", id, "err", err)
	}
}

// listCheckpointsAttempts bounds the tries of ListCheckpoints.
const listCheckpointsAttempts = 4

// ListCheckpoints lists every checkpoint of the consumer group: one listing,
// and a read of each record whose version this store has not read.
func (c *CheckpointStore) ListCheckpoints(ctx context.Context, namespace, eventHub, consumerGroup string, _ *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	g, err := c.groupOf(namespace, eventHub, consumerGroup)
	if err != nil {
		return nil, err
	}
	// A checkpoint left out would restart its partition from the default
	// position, so a read that fails is retried; and as the Processor does
	// not retry a failed ListCheckpoints (the partitions it was opening stay
	// unopened until it restarts), a few times.
	var snap blobstore.Snapshot
	for attempt := 1; ; attempt++ {
		snap, err = g.scan(ctx, true)
		if err == nil && len(snap.Failed) == 0 {
			break
		}
		if err == nil {
			for id, ferr := range snap.Failed {
				err = fmt.Errorf("eventhubs: reading the checkpoint of partition %q: %w", id, ferr)
				break
			}
		}
		if attempt == listCheckpointsAttempts || ctx.Err() != nil {
			return nil, err
		}
		c.log.Warn("listing checkpoints failed; retrying", "group", g.prefix, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	c.logUnreadable(g, snap)
	var out []azeventhubs.Checkpoint
	for _, l := range snap.Leases {
		if l.Checkpoint == nil {
			continue
		}
		cp := azeventhubs.Checkpoint{FullyQualifiedNamespace: namespace, EventHubName: eventHub, ConsumerGroup: consumerGroup,
			PartitionID: l.PartitionID}
		if l.Checkpoint.Offset != "" {
			off := l.Checkpoint.Offset
			cp.Offset = &off
		}
		if l.Checkpoint.SequenceNumber != blobstore.NoSequenceNumber {
			seq := l.Checkpoint.SequenceNumber
			cp.SequenceNumber = &seq
		}
		out = append(out, cp)
	}
	return out, nil
}

// SetCheckpoint stores a checkpoint under the ownership this store holds:
// one conditional write, which also renews the ownership. It fails with
// ErrNotOwner (errors.Is blobstore.ErrLeaseLost) when this store does not
// hold the partition: a processor that lost it can no longer move its
// checkpoint.
func (c *CheckpointStore) SetCheckpoint(ctx context.Context, cp azeventhubs.Checkpoint, _ *azeventhubs.SetCheckpointOptions) error {
	g, err := c.groupOf(cp.FullyQualifiedNamespace, cp.EventHubName, cp.ConsumerGroup)
	if err != nil {
		return err
	}
	if err := blobstore.ValidatePartitionID(cp.PartitionID); err != nil {
		return err
	}
	if cp.Offset == nil && cp.SequenceNumber == nil {
		return fmt.Errorf("%w: checkpoint of partition %q has neither an offset nor a sequence number", blobstore.ErrInvalidArgument, cp.PartitionID)
	}
	o, lease, ok := g.holder(cp.PartitionID)
	if !ok {
		return fmt.Errorf("%w (partition %q of %s)", ErrNotOwner, cp.PartitionID, strings.TrimSuffix(g.prefix, "/"))
	}
	tcp := blobstore.Checkpoint{PartitionID: cp.PartitionID, SequenceNumber: blobstore.NoSequenceNumber}
	if cp.Offset != nil {
		tcp.Offset = *cp.Offset
	}
	if cp.SequenceNumber != nil {
		tcp.SequenceNumber = *cp.SequenceNumber
	}
	err = o.store.UpdateCheckpoint(ctx, lease, tcp)
	if errors.Is(err, blobstore.ErrLeaseLost) {
		o.forget(cp.PartitionID, lease)
		return fmt.Errorf("%w: %w", ErrNotOwner, err)
	}
	return err
}

// forget drops a lease the owner no longer holds.
func (o *owner) forget(id string, lease blobstore.Lease) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cur, ok := o.held[id]; ok && cur.Token == lease.Token {
		delete(o.held, id)
	}
}

// ClaimOwnership claims the ownerships asked for and returns those it got.
// For each Processor in the batch it heartbeats once, which renews every
// ownership that Processor holds; a claim of a partition it holds is then
// free, unless the heartbeat could not renew it (one write). A claim with a
// nil ETag creates the partition's record (create-only); one with an ETag
// takes the partition only if it is still at that ETag: neither its record
// nor its owner's heartbeat changed since it was listed. A claim that loses
// a race, or names a stale ETag, is left out of the result, not an error. A
// claim with an empty OwnerID relinquishes a partition this store holds.
func (c *CheckpointStore) ClaimOwnership(ctx context.Context, ownerships []azeventhubs.Ownership, _ *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	type batch struct {
		g     *group
		owner string
		asked []azeventhubs.Ownership
	}
	var batches []*batch
	find := map[[2]any]*batch{}
	for _, o := range ownerships {
		g, err := c.groupOf(o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup)
		if err != nil {
			return nil, err
		}
		if err := blobstore.ValidatePartitionID(o.PartitionID); err != nil {
			return nil, err
		}
		k := [2]any{g, o.OwnerID}
		b, ok := find[k]
		if !ok {
			b = &batch{g: g, owner: o.OwnerID}
			find[k] = b
			batches = append(batches, b)
		}
		b.asked = append(b.asked, o)
	}
	var out []azeventhubs.Ownership
	for _, b := range batches {
		var got []azeventhubs.Ownership
		var err error
		if b.owner == "" {
			got, err = c.relinquish(ctx, b.g, b.asked)
		} else {
			got, err = c.claim(ctx, b.g, b.owner, b.asked)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// claim renews and takes ownerships for the Processor with ClientID id.
func (c *CheckpointStore) claim(ctx context.Context, g *group, id string, asked []azeventhubs.Ownership) ([]azeventhubs.Ownership, error) {
	o, err := g.ownerOf(id)
	if err != nil {
		return nil, err
	}
	if err := g.prepare(ctx, o.store); err != nil {
		return nil, err
	}
	// One heartbeat renews every ownership this Processor holds; a claim
	// that races a take of the same ETag then loses to it or beats it, never
	// both (blobstore.Store.Confirm).
	since := o.store.Clock().Now()
	if err := o.store.Heartbeat(ctx); err != nil {
		c.log.Warn("heartbeat failed; renewing each ownership with a write", "group", g.prefix, "owner", id, "err", err)
		since = o.store.Clock().Now()
	}
	var out []azeventhubs.Ownership
	for _, want := range asked {
		pid := want.PartitionID
		o.mu.Lock()
		lease, held := o.held[pid]
		o.mu.Unlock()
		var l blobstore.Lease
		switch {
		case held:
			l, err = o.store.Confirm(ctx, lease, since)
		case want.ETag == nil:
			l, err = o.store.Take(ctx, pid, &blobstore.TakeOptions{Create: true})
		case *want.ETag == "":
			continue // no version to take at: never a take whatever the state
		default:
			l, err = o.store.Take(ctx, pid, &blobstore.TakeOptions{IfVersion: string(*want.ETag)})
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			// The round was cancelled (the Processor is stopping): fail it,
			// keeping what is held, so that the Processor relinquishes what
			// its previous round claimed, which this store still holds.
			return nil, err
		case errors.Is(err, blobstore.ErrPermission), errors.Is(err, blobstore.ErrStoreNotFound), errors.Is(err, blobstore.ErrClosed):
			return nil, err // the store cannot be used: the Processor must stop
		default:
			if held && errors.Is(err, blobstore.ErrLeaseLost) {
				o.forget(pid, lease) // definitely lost; anything else is retried next round
			}
			if !errors.Is(err, blobstore.ErrLeaseHeld) && !errors.Is(err, blobstore.ErrLeaseLost) &&
				!errors.Is(err, blobstore.ErrPartitionNotFound) && !errors.Is(err, blobstore.ErrInvalidArgument) {
				c.log.Warn("claim failed; left out of this round", "group", g.prefix, "owner", id, "partition", pid, "err", err)
			}
			continue
		}
		o.mu.Lock()
		o.held[pid] = l
		o.mu.Unlock()
		etag := azcore.ETag(l.Version)
		got := want
		got.OwnerID, got.ETag, got.LastModifiedTime = id, &etag, time.Now()
		out = append(out, got)
	}
	return out, nil
}

// relinquish releases the partitions asked for that a local Processor holds;
// a Processor that holds nothing afterwards leaves the group, so the others
// see its partitions free at their next listing.
func (c *CheckpointStore) relinquish(ctx context.Context, g *group, asked []azeventhubs.Ownership) ([]azeventhubs.Ownership, error) {
	var out []azeventhubs.Ownership
	touched := map[*owner]bool{}
	for _, want := range asked {
		o, lease, ok := g.holder(want.PartitionID)
		if !ok {
			continue // not ours to give up
		}
		touched[o] = true
		err := o.store.Release(ctx, lease)
		if err == nil || errors.Is(err, blobstore.ErrLeaseLost) {
			o.forget(want.PartitionID, lease)
		}
		if err != nil {
			if !errors.Is(err, blobstore.ErrLeaseLost) {
				c.log.Warn("relinquish failed", "group", g.prefix, "partition", want.PartitionID, "err", err)
			}
			continue
		}
		l, _, err := o.store.GetLease(ctx, want.PartitionID)
		if err != nil {
			continue // released; its new ETag is unknown, and so is whether a host took it since
		}
		etag := azcore.ETag(l.Version)
		got := want
		got.ETag, got.LastModifiedTime = &etag, time.Now()
		out = append(out, got)
	}
	for o := range touched {
		o.mu.Lock()
		empty := len(o.held) == 0
		o.mu.Unlock()
		if empty {
			if err := o.store.Leave(ctx); err != nil {
				c.log.Warn("leaving the group failed; the others count this processor until its presence expires", "group", g.prefix, "err", err)
			}
		}
	}
	return out, nil
}
