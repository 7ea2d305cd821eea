package blobstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Default lease timing, as in EventProcessorHost.
const (
	DefaultLeaseDuration = 30 * time.Second
	DefaultRenewInterval = 10 * time.Second
)

// Clock supplies the time the Store measures lease durations with. Only
// differences between two readings of the same Clock are used, so a reading
// with a monotonic component (time.Now) is immune to wall-clock steps. Tests
// inject a manual clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure a Store. The zero value, and a nil *Options, mean the
// defaults.
type Options struct {
	// Prefix is prepended to every key, as a folder ("orders/billing/");
	// a missing trailing slash is added. Open takes it from the URL's
	// "prefix" parameter when Options.Prefix is empty.
	Prefix string

	// Owner names this host in lease records. It must be unique among the
	// hosts sharing the store. Default: hostname-pid-random.
	Owner string

	// LeaseDuration is how long a lease stays valid without a write from its
	// owner. Default DefaultLeaseDuration.
	LeaseDuration time.Duration

	// RenewInterval is how often an owner should renew; Renew skips the
	// request when a write landed within it. It must be shorter than
	// LeaseDuration. Default DefaultRenewInterval, or LeaseDuration/3 if that
	// is shorter.
	RenewInterval time.Duration

	// Clock measures lease durations. Default: the system's monotonic clock.
	Clock Clock

	// ListConcurrency bounds the parallel reads of ListLeases. Default 16.
	ListConcurrency int

	// Logger receives warnings the Store cannot return as errors: a record
	// whose counter went backwards (the store lost acknowledged writes).
	// Default: slog.Default().
	Logger *slog.Logger

	// MeterProvider receives the Store's OpenTelemetry metrics (metrics.go:
	// storage requests by operation, provider and result, and their
	// duration). Default: none, and no cost.
	MeterProvider metric.MeterProvider

	// TracerProvider receives a span per storage request (traces.go).
	// Default: none, and no cost.
	TracerProvider trace.TracerProvider

	// Provider names the storage provider in metrics and traces. Open sets
	// the URL's scheme; default "driver".
	Provider string
}

// Store is a checkpoint and lease store over one object-store prefix. It is
// safe for concurrent use; writes to one partition from one Store are
// serialized, so a renewal never makes a concurrent checkpoint fail.
type Store struct {
	bkt      driver.Bucket
	prefix   string
	owner    string
	leaseDur time.Duration
	renewDur time.Duration
	clock    Clock
	listConc int
	log      *slog.Logger

	mu        sync.Mutex
	parts     map[string]*partition
	storeSeen atomic.Bool // the store marker has been seen or written
	closed    atomic.Bool
	presence  presence
	metrics   *storeMetrics // nil without a MeterProvider
}

// partition is what this Store knows about one partition. Its lock
// serializes every operation this Store makes on it; waiting for the lock
// honours the caller's context, so one hung request never blocks the others'
// deadlines.
type partition struct {
	sem chan struct{} // the lock: full when held
	// held is what Holds needs, readable without the lock while an
	// operation is in flight: the token held ("" when none) and the start of
	// the last successful owner write. It is published at every unlock.
	held atomic.Pointer[heldLease]

	// Ownership held through this Store: token is non-empty while it holds
	// the lease. rec and version are the last record it wrote or read, valid
	// when known is true.
	token     string
	rec       record
	version   string
	known     bool
	renewedAt time.Time // start of the last successful owner write
	// dead is the last token this Store gave up (lost or lapsed), so a
	// record still naming it can be re-acquired at once.
	dead string
	// pending is the token of an acquisition whose outcome is unknown, and
	// pendingStart when it was sent: the next Acquire adopts it if it landed.
	pending      string
	pendingStart time.Time

	// highest is the highest counter this Store has read or written at the
	// key: a lower one read later means the store lost acknowledged writes.
	highest uint64

	// Observation of a lease held by someone else, for expiry: the version
	// last seen and since when.
	obsVersion string
	obsSince   time.Time

	// seen is the last record this Store read or wrote at the key, with its
	// version (seenVersion "" when none), or seenCorrupt when those bytes
	// could not be decoded. A version's bytes never change, so a listing
	// that shows seenVersion needs no read. seenAt is when a listing or a
	// read last confirmed that version was current.
	seen        record
	seenVersion string
	seenCorrupt *CorruptRecordError
	seenAt      time.Time
}

// remember caches what the key held at version. The caller holds p's lock.
func (p *partition) remember(rec record, version string, corrupt *CorruptRecordError, at time.Time) {
	p.seen, p.seenVersion, p.seenCorrupt, p.seenAt = rec, version, corrupt, at
}

// New returns a Store over a driver. The Store owns bkt and closes it.
func New(bkt driver.Bucket, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	prefix, err := validatePrefix(o.Prefix)
	if err != nil {
		return nil, err
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewInterval == 0 {
		o.RenewInterval = min(DefaultRenewInterval, o.LeaseDuration/3)
	}
	if o.LeaseDuration < 0 || o.RenewInterval <= 0 || o.RenewInterval >= o.LeaseDuration {
		return nil, fmt.Errorf("%w: need 0 < RenewInterval (%v) < LeaseDuration (%v)", ErrInvalidArgument, o.RenewInterval, o.LeaseDuration)
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if len(o.Owner) > MaxPartitionIDLen || strings.IndexFunc(o.Owner, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%w: owner name %q", ErrInvalidArgument, o.Owner)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.ListConcurrency <= 0 {
		o.ListConcurrency = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Provider == "" {
		o.Provider = "driver"
	}
	if o.TracerProvider != nil {
		bkt = traced(bkt, o.TracerProvider, o.Provider)
	}
	var sm *storeMetrics
	if o.MeterProvider != nil {
		if bkt, err = meter(bkt, o.MeterProvider, o.Provider); err != nil {
			return nil, fmt.Errorf("blobstore: metrics: %w", err)
		}
		if sm, err = newStoreMetrics(o.MeterProvider, o.Provider); err != nil {
			return nil, fmt.Errorf("blobstore: metrics: %w", err)
		}
	}
	return &Store{
		bkt:      bkt,
		prefix:   prefix,
		owner:    o.Owner,
		leaseDur: o.LeaseDuration,
		renewDur: o.RenewInterval,
		clock:    o.Clock,
		listConc: o.ListConcurrency,
		log:      o.Logger,
		parts:    map[string]*partition{},
		metrics:  sm,
	}, nil
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(3))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}

// Owner returns the name this Store writes into the leases it takes.
func (s *Store) Owner() string { return s.owner }

// Prefix returns the key prefix, in canonical form.
func (s *Store) Prefix() string { return s.prefix }

// LeaseDuration returns how long a lease stays valid without a write.
func (s *Store) LeaseDuration() time.Duration { return s.leaseDur }

// RenewInterval returns how often an owner should renew its leases.
func (s *Store) RenewInterval() time.Duration { return s.renewDur }

// Close closes the underlying driver. Leases are not released: call Release
// first for a graceful handover.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.bkt.Close()
}

func (s *Store) key(id string) string { return s.prefix + id + recordSuffix }

func (s *Store) markerKey() string { return s.prefix + markerName }

// part returns the partition state for id, creating it on first use.
func (s *Store) part(id string) *partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.parts[id]
	if !ok {
		p = &partition{sem: make(chan struct{}, 1)}
		p.held.Store(&heldLease{})
		s.parts[id] = p
	}
	return p
}

// heldLease is a partition's ownership as published for Holds.
type heldLease struct {
	token     string
	renewedAt time.Time
	presence  string // the presence incarnation whose heartbeats renew it
}

// lock takes the partition's lock, or gives up when ctx is done.
func (p *partition) lock(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for an operation in flight on the same partition: %w", ErrUnavailable, ctx.Err())
	}
}

func (p *partition) lockForever() { p.sem <- struct{}{} }

func (p *partition) tryLock() bool {
	select {
	case p.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *partition) unlock() {
	h := &heldLease{token: p.token, renewedAt: p.renewedAt}
	if p.token != "" && p.rec.Token == p.token {
		h.presence = p.rec.Presence
	}
	p.held.Store(h)
	<-p.sem
}

// begin validates the common arguments of every partition operation.
func (s *Store) begin(id string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ValidatePartitionID(id)
}

// read fetches and decodes a partition's record. A missing object and a
// tombstone are both reported as found == false.
func (s *Store) read(ctx context.Context, id string) (rec record, version string, found bool, err error) {
	rec, version, found, err = s.fetchRaw(ctx, id)
	p := s.part(id)
	var ce *CorruptRecordError
	switch {
	case err == nil && version != "":
		s.checkCounter(s.key(id), p, rec.Counter)
		p.remember(rec, version, nil, s.clock.Now())
	case errors.As(err, &ce) && version != "":
		p.remember(record{}, version, ce, s.clock.Now())
	}
	if err != nil {
		return record{}, "", false, err
	}
	return rec, version, found && !rec.Deleted, nil
}

// fetch is read without the bookkeeping that needs the partition's lock.
func (s *Store) fetch(ctx context.Context, id string) (rec record, version string, found bool, err error) {
	rec, version, found, err = s.fetchRaw(ctx, id)
	if err != nil {
		return record{}, "", false, err
	}
	return rec, version, found && !rec.Deleted, nil
}

// fetchRaw reads and decodes the key. found is false only when no object
// exists; a tombstone is returned as found. A record that cannot be decoded
// is returned as an error with the version of its bytes.
func (s *Store) fetchRaw(ctx context.Context, id string) (rec record, version string, found bool, err error) {
	key := s.key(id)
	obj, err := s.bkt.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return record{}, "", false, nil
	}
	if err != nil {
		return record{}, "", false, wrapDriverErr("get", key, err)
	}
	rec, err = decodeRecord(key, id, obj.Data)
	if err != nil {
		return record{}, obj.Version, false, s.metrics.corruptIn(ctx, recordPartition, err)
	}
	return rec, obj.Version, true, nil
}

// checkCounter warns when a record's counter is lower than one this Store
// has already read or written at the key: counters only grow, so the store
// lost acknowledged writes (a restore from backup, an emulator killed
// before it persisted). Fencing still holds (every write is conditional on
// the version read), but a checkpoint may have gone back: say so, once per
// regression. The caller holds p's lock.
func (s *Store) checkCounter(key string, p *partition, counter uint64) {
	if counter < p.highest {
		s.log.Warn("tidemark: record counter went backwards: the store lost acknowledged writes",
			"key", key, "counter", counter, "seen", p.highest)
	}
	p.highest = counter
}

// readRaw is read without hiding tombstones: writers need the version.
func (s *Store) readRaw(ctx context.Context, id string) (rec record, version string, exists bool, err error) {
	rec, version, found, err := s.read(ctx, id)
	if err != nil || found {
		return rec, version, found, err
	}
	return rec, version, version != "", nil
}

// errWriteRefused is returned by commit when the write certainly did not land
// and cannot land later: another write got there first. cur and curVersion
// describe what is there now (exists false: nothing is).
type errWriteRefused struct {
	cur        record
	curVersion string
	exists     bool
}

func (e *errWriteRefused) Error() string { return "conditional write refused" }

// maxAttempts bounds the retries of a write whose outcome was unknown or that
// met a transient conflict.
const maxAttempts = 4

// commit is the one way a record is written: a single conditional write of
// next (create-only when ifVersion is CreateOnly, else compare-and-swap on
// ifVersion). next's counter must be exactly one more than the counter of the
// record at ifVersion (1 for a create), so every write's bytes are unique and
// the counters along a key's history grow one by one.
//
// commit reports a refusal (*errWriteRefused) only when it knows the write did
// not land and never will:
//   - the driver refused the condition (ErrPrecondition is definite by the
//     driver contract, and so is ErrNotFound for a compare-and-swap) and no
//     earlier attempt of this commit may have landed; or
//   - the object now holds another record with a counter at most next's:
//     that record was written on top of ifVersion, or before it, so next's
//     compare-and-swap can never succeed, and a history that contained next
//     would show a larger counter.
//
// When a write fails for any other reason (a lost response, a timeout, a 5xx)
// commit reads the object back: if it holds exactly next's bytes, the write
// landed (its response was lost) and commit returns the version it read. If
// the object still holds ifVersion, nothing landed yet and the write is sent
// again (bounded). Otherwise, another host has written since, and next may
// have landed before it: the outcome is unknown (ErrOutcomeUnknown), never a
// refusal.
func (s *Store) commit(ctx context.Context, id string, next *record, ifVersion string) (_ string, err error) {
	// uncertain: an attempt failed without saying whether it was applied;
	// landed: the read-back found it had been. For the metrics only.
	uncertain, landed := false, false
	if s.metrics != nil {
		defer func() { s.metrics.committed(ctx, uncertain, landed, err) }()
	}
	key := s.key(id)
	data := encodeRecord(next)
	unknown := func(format string, args ...any) error {
		return fmt.Errorf("%w: put %q: "+format, append([]any{ErrOutcomeUnknown, key}, args...)...)
	}
	// sent is true once an attempt failed in a way that does not prove it
	// was not applied: from then on, a failed precondition may be the echo
	// of our own earlier success.
	sent := false
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(attempt*attempt)*20*time.Millisecond); err != nil {
				return "", unknown("%w (gave up waiting to retry: %w)", lastErr, err)
			}
		}
		v, err := s.bkt.Put(ctx, key, data, ifVersion)
		if err == nil {
			return v, nil
		}
		if errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrPermission) || errors.Is(err, driver.ErrInvalidArgument) {
			if sent {
				return "", unknown("%w", wrapDriverErr("put", key, err))
			}
			return "", wrapDriverErr("put", key, err)
		}
		lastErr = err
		// A failed precondition is definite by the driver contract, and so
		// is a compare-and-swap on a missing object (which drivers may
		// report as ErrNotFound): this attempt changed nothing.
		definite := errors.Is(err, driver.ErrPrecondition) || (ifVersion != driver.CreateOnly && errors.Is(err, driver.ErrNotFound))
		refusedNow := definite && !sent
		conflict := errors.Is(err, driver.ErrConflict) // not applied, by contract
		uncertain = uncertain || (!refusedNow && !conflict)
		// Read back with a fresh context if ours expired: the question
		// "did it land?" must be answered before we report anything.
		rctx, cancel := readBackContext(ctx)
		obj, gerr := s.bkt.Get(rctx, key)
		cancel()
		if errors.Is(gerr, driver.ErrNotFound) {
			switch {
			case refusedNow:
				return "", &errWriteRefused{}
			case ifVersion == driver.CreateOnly && !errors.Is(err, driver.ErrPrecondition):
				sent = sent || !conflict
				continue // nothing there yet: the create did not land; retry
			}
			// Gone: our write may have landed before a store deletion.
			return "", unknown("%w; the object is gone now", err)
		}
		if gerr != nil {
			if refusedNow {
				// Nothing landed, but what is there now is unknown: not a
				// refusal the caller could act on (it would read "deleted").
				return "", fmt.Errorf("%w: put %q: refused (%w), and reading what is there failed: %w", ErrUnavailable, key, err, gerr)
			}
			return "", unknown("%w; the read-back failed: %w", err, gerr)
		}
		if bytes.Equal(obj.Data, data) {
			// Exactly the bytes we meant to store are there: our write
			// landed. (Token and counter alone are not enough: a non-owner's
			// DeleteCheckpoint carries the owner's token and the same next
			// counter. And bytes never repeat: the counter only grows.)
			landed = true
			return obj.Version, nil
		}
		if obj.Version == ifVersion && !errors.Is(err, driver.ErrPrecondition) {
			sent = sent || !conflict
			continue // unchanged: our write has not landed; retry
		}
		cur, derr := decodeRecord(key, id, obj.Data)
		if derr != nil {
			return "", s.metrics.corruptIn(ctx, recordPartition, derr)
		}
		if refusedNow || cur.Counter <= next.Counter {
			return "", &errWriteRefused{cur: cur, curVersion: obj.Version, exists: true}
		}
		return "", unknown("%w; another write (counter %d, ours %d) has landed since, so ours may have landed before it", err, cur.Counter, next.Counter)
	}
	if sent {
		return "", unknown("gave up after %d attempts: %w", maxAttempts, lastErr)
	}
	return "", fmt.Errorf("%w: put %q: gave up after %d attempts: %w", ErrUnavailable, key, maxAttempts, lastErr)
}

// readBackContext gives the read-back after a failed write a few seconds even
// when the caller's context has just expired, so an unknown outcome can still
// be resolved.
func readBackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ensureStore reports ErrStoreNotFound unless the store marker exists. It
// reads the marker at most once per Store while it is found.
func (s *Store) ensureStore(ctx context.Context) error {
	if s.storeSeen.Load() {
		return nil
	}
	ok, err := s.StoreExists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: no store marker at %q (call CreateStoreIfNotExists)", ErrStoreNotFound, s.markerKey())
	}
	return nil
}

// StoreExists reports whether the store has been created under the prefix.
func (s *Store) StoreExists(ctx context.Context) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	key := s.markerKey()
	obj, err := s.bkt.Get(ctx, key)
	switch {
	case errors.Is(err, driver.ErrNotFound), errors.Is(err, driver.ErrBucketNotFound):
		s.storeSeen.Store(false)
		return false, nil
	case err != nil:
		return false, wrapDriverErr("get", key, err)
	}
	if err := decodeMarker(key, obj.Data); err != nil {
		return false, s.metrics.corruptIn(ctx, recordMarker, err)
	}
	s.storeSeen.Store(true)
	return true, nil
}

// CreateStoreIfNotExists creates the store (its marker object, and for
// file:// the directory) if it does not exist, and does nothing if it does.
// It does not create cloud buckets: a missing bucket is ErrStoreNotFound.
//
// It is the seed's create_checkpoint_store_if_not_exists and the lease
// manager's create-lease-store-if-not-exists: one store holds both.
func (s *Store) CreateStoreIfNotExists(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	key := s.markerKey()
	_, err := s.bkt.Put(ctx, key, encodeMarker(), driver.CreateOnly)
	if err != nil && !errors.Is(err, driver.ErrPrecondition) {
		// A lost response is fine too: StoreExists below settles it.
		if errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrPermission) {
			return wrapDriverErr("create store", key, err)
		}
	}
	ok, serr := s.StoreExists(ctx)
	if serr != nil {
		return serr
	}
	if !ok {
		if err == nil {
			return fmt.Errorf("%w: the store marker %q vanished as it was created (a concurrent DeleteStore?)", ErrStoreNotFound, key)
		}
		return wrapDriverErr("create store", key, err)
	}
	return nil
}

// DeleteStore deletes every partition record and host presence record under
// the prefix, and then the store marker. It is destructive and does not wait
// for owners: a live owner's next write fails with ErrLeaseLost. Epochs start
// again from zero in a store created afresh, so stop every host before
// deleting a store. Deleting a missing store succeeds.
func (s *Store) DeleteStore(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	l, err := s.list(ctx)
	if err != nil {
		if errors.Is(err, ErrStoreNotFound) {
			return nil
		}
		return err
	}
	keys := make([]string, 0, len(l.parts)+len(l.hosts))
	for _, e := range l.parts {
		keys = append(keys, s.key(e.Key))
	}
	for _, e := range l.hosts {
		keys = append(keys, e.Key)
	}
	for _, k := range keys {
		if err := s.bkt.Delete(ctx, k); err != nil {
			return wrapDriverErr("delete", k, err)
		}
	}
	s.mu.Lock()
	parts := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		parts = append(parts, p)
	}
	s.mu.Unlock()
	for _, p := range parts {
		p.lockForever()
		p.drop()
		p.highest = 0 // a store created afresh starts its counters again
		p.remember(record{}, "", nil, time.Time{})
		p.unlock()
	}
	if err := s.bkt.Delete(ctx, s.markerKey()); err != nil {
		return wrapDriverErr("delete", s.markerKey(), err)
	}
	s.storeSeen.Store(false)
	return nil
}

// listing is what one listing of the store's prefix showed: the partition
// records and the host presence records, each with its version.
type listing struct {
	parts []driver.Entry // Key is the partition id; sorted by it
	hosts []driver.Entry // Key is the full key
}

// list lists the store's prefix once (every page): partitions and hosts
// together. It reports ErrStoreNotFound if the store marker is not among the
// listed keys.
func (s *Store) list(ctx context.Context) (listing, error) {
	var l listing
	sawMarker := false
	token := ""
	for {
		entries, next, err := s.bkt.List(ctx, s.prefix, token)
		if errors.Is(err, driver.ErrNotFound) {
			// A listing finds no object only when its container is gone.
			return listing{}, fmt.Errorf("%w: list %q: %w", ErrStoreNotFound, s.prefix, err)
		}
		if err != nil {
			return listing{}, wrapDriverErr("list", s.prefix, err)
		}
		for _, e := range entries {
			name := strings.TrimPrefix(e.Key, s.prefix)
			if name == markerName {
				sawMarker = true
				continue
			}
			if strings.HasPrefix(name, hostsDir) {
				if isHostKey(name) {
					l.hosts = append(l.hosts, e)
				}
				continue
			}
			// Nested prefixes belong to other stores.
			id, ok := strings.CutSuffix(name, recordSuffix)
			if !ok || strings.Contains(id, "/") || ValidatePartitionID(id) != nil {
				continue
			}
			l.parts = append(l.parts, driver.Entry{Key: id, Version: e.Version, Modified: e.Modified})
		}
		if next == "" {
			break
		}
		token = next
	}
	if !sawMarker {
		s.storeSeen.Store(false)
		return listing{}, fmt.Errorf("%w: no store marker at %q (call CreateStoreIfNotExists)", ErrStoreNotFound, s.markerKey())
	}
	s.storeSeen.Store(true)
	sort.Slice(l.parts, func(i, j int) bool { return l.parts[i].Key < l.parts[j].Key })
	return l, nil
}

// Clock returns the clock the Store measures lease durations with.
func (s *Store) Clock() Clock { return s.clock }

// Sub returns a Store over the same bucket whose keys live in the folder
// prefix below s's own prefix, owned by owner (s's owner when empty), with
// s's lease timing, clock, list concurrency and logger. It has leases,
// presence records and a store marker of its own (CreateStoreIfNotExists),
// which s's listings leave out. Use it to keep many groups, or many owners
// within a process, on one connection. Closing it leaves the bucket open;
// close s after its sub-stores.
func (s *Store) Sub(prefix, owner string) (*Store, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	sub, err := validatePrefix(prefix)
	if err != nil {
		return nil, err
	}
	if sub == "" {
		return nil, fmt.Errorf("%w: a sub-store needs a prefix", ErrInvalidArgument)
	}
	if owner == "" {
		owner = s.owner
	}
	return New(sharedBucket{s.bkt}, &Options{Prefix: s.prefix + sub, Owner: owner, LeaseDuration: s.leaseDur,
		RenewInterval: s.renewDur, Clock: s.clock, ListConcurrency: s.listConc, Logger: s.log})
}

// sharedBucket is a sub-store's view of its parent's bucket: closing it
// leaves the bucket to its parent.
type sharedBucket struct{ driver.Bucket }

func (sharedBucket) Close() error { return nil }

func (b sharedBucket) As(target any) bool {
	a, ok := b.Bucket.(driver.Aser)
	return ok && a.As(target)
}

// As exposes the provider's SDK client behind the Store, for what Tidemark
// does not wrap: target is a pointer to a variable of the type the
// provider's package documents (s3: **s3.Client; gcs: **storage.Client;
// azblob: **container.Client). It reports whether target was set; the
// embedded mem:// and file:// drivers have no client and report false.
func (s *Store) As(target any) bool {
	a, ok := s.bkt.(driver.Aser)
	return ok && a.As(target)
}
