// Package conformance states Tidemark's storage contract as one test suite
// that every provider runs unchanged: the embedded memory and file drivers,
// and the S3, GCS and Azure adapters on their emulators.
//
// A provider's test implements Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(ctx context.Context, t *testing.T) (conformance.Harness, error) {
//			return newMyHarness(ctx, t)
//		})
//	}
//
// # Cases
//
// The subtests are grouped by the behaviour they check: Driver (the
// driver.Bucket contract itself, checked on the raw driver without a Store:
// create-only and compare-and-swap writes, one winner among racing writers,
// delete, listing with versions, a missing bucket, error messages), Store
// (the store's life cycle and prefix isolation), Checkpoint (every edge case of the
// EventProcessorHost checkpoint manager), Lease (acquire, expire, steal,
// renew, release, fencing, epochs), Admin (operator edits: refused while
// held, fenced when forced), Presence (host heartbeats), Scan (what a
// balancer reads each cycle: one listing, reads only of changed records),
// Heartbeat (one presence write renews every lease; silent hosts are fenced), Race (many stores racing for one lease),
// Faults (lost responses and outages, injected by wrapping the driver),
// Corrupt (unreadable records are reported and never overwritten), Validation
// (bad ids refused before any I/O), Costs (storage requests per operation),
// List (listing many partitions) and Regressions (interleavings that once
// broke an invariant, found by review).
//
// Each test works under a prefix of its own, so one bucket serves the whole
// run. Lease timing runs on a manual clock: no case sleeps for a lease to
// expire.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/internal/clocktest"
)

// Lease timing used by the suite, on its manual clock.
const (
	leaseDuration = 30 * time.Second
	renewInterval = 10 * time.Second
)

// caseTimeout bounds every case; racing cases on slow emulators take longest.
const caseTimeout = 5 * time.Minute

type testCase struct {
	name string
	fn   func(t *testing.T, e *env)
}

func groups() []struct {
	name  string
	cases []testCase
} {
	return []struct {
		name  string
		cases []testCase
	}{
		{"Driver", driverCases},
		{"Store", storeCases},
		{"Checkpoint", checkpointCases},
		{"Lease", leaseCases},
		{"Take", takeCases},
		{"Holds", holdCases},
		{"Admin", adminCases},
		{"Presence", presenceCases},
		{"Scan", scanCases},
		{"Heartbeat", heartbeatCases},
		{"Regressions", regressionCases},
		{"Race", raceCases},
		{"Faults", faultCases},
		{"Edges", edgeCases},
		{"Corrupt", corruptCases},
		{"Validation", validationCases},
		{"Costs", costCases},
		{"List", listCases},
	}
}

// Run runs the whole suite against the provider that newHarness makes.
func Run(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	h, err := newHarness(ctx, t)
	cancel()
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	t.Cleanup(h.Close)
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
					defer cancel()
					e := &env{t: t, ctx: ctx, h: h, prefix: uniquePrefix(t),
						clock: clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
					c.fn(t, e)
				})
			}
		})
	}
}

func uniquePrefix(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	return "tm-" + strings.Trim(name, "-") + "-" + randomHex(4) + "/"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one case's world: a harness, a prefix of its own and a manual clock
// shared by the stores it opens.
type env struct {
	t      *testing.T
	ctx    context.Context
	h      Harness
	prefix string
	clock  *clocktest.Clock
	n      atomic.Int32
}

// sub is a fresh world for subtest t: the same harness and context, a prefix
// and a clock of its own.
func (e *env) sub(t *testing.T) *env {
	t.Helper()
	return &env{t: t, ctx: e.ctx, h: e.h, prefix: uniquePrefix(t),
		clock: clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

// opened is a Store with the instrumented driver beneath it.
type opened struct {
	*blobstore.Store
	bkt *instrumented
}

// store opens a new Store (a separate host) on the case's prefix, over a new
// driver value from the harness.
func (e *env) store(opts ...func(*blobstore.Options)) opened {
	e.t.Helper()
	drv, err := e.h.OpenBucket(e.ctx)
	if err != nil {
		e.t.Fatalf("OpenBucket: %v", err)
	}
	ib := &instrumented{Bucket: drv}
	o := &blobstore.Options{
		Prefix:        e.prefix,
		Owner:         fmt.Sprintf("host-%d", e.n.Add(1)),
		LeaseDuration: leaseDuration,
		RenewInterval: renewInterval,
		Clock:         e.clock,
	}
	for _, f := range opts {
		f(o)
	}
	s, err := blobstore.New(ib, o)
	if err != nil {
		e.t.Fatalf("blobstore.New: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return opened{Store: s, bkt: ib}
}

// created opens a Store and creates the store marker.
func (e *env) created(opts ...func(*blobstore.Options)) opened {
	e.t.Helper()
	s := e.store(opts...)
	if err := s.CreateStoreIfNotExists(e.ctx); err != nil {
		e.t.Fatalf("CreateStoreIfNotExists: %v", err)
	}
	return s
}

// partition creates partition id (free, checkpoint at start) through s.
func (e *env) partition(s opened, id string) {
	e.t.Helper()
	if _, err := s.CreateLeaseIfNotExists(e.ctx, id); err != nil {
		e.t.Fatalf("CreateLeaseIfNotExists(%q): %v", id, err)
	}
}

// acquire takes id's lease through s or fails the test.
func (e *env) acquire(s opened, id string) blobstore.Lease {
	e.t.Helper()
	l, err := s.Acquire(e.ctx, id)
	if err != nil {
		e.t.Fatalf("%s: Acquire(%q): %v", s.Owner(), id, err)
	}
	if l.Owner != s.Owner() || l.Token == "" {
		e.t.Fatalf("%s: Acquire(%q) returned owner %q token %q", s.Owner(), id, l.Owner, l.Token)
	}
	return l
}

// key is the object key of id's record under the case's prefix.
func (e *env) key(id string) string { return e.prefix + id + ".json" }

// raw reads an object directly through a fresh driver value.
func (e *env) raw(key string) driver.Object {
	e.t.Helper()
	drv, err := e.h.OpenBucket(e.ctx)
	if err != nil {
		e.t.Fatalf("OpenBucket: %v", err)
	}
	defer drv.Close()
	obj, err := drv.Get(e.ctx, key)
	if err != nil {
		e.t.Fatalf("raw Get(%q): %v", key, err)
	}
	return obj
}

// putRaw writes bytes directly, replacing whatever is there.
func (e *env) putRaw(key string, data []byte) {
	e.t.Helper()
	drv, err := e.h.OpenBucket(e.ctx)
	if err != nil {
		e.t.Fatalf("OpenBucket: %v", err)
	}
	defer drv.Close()
	ver := driver.CreateOnly
	if obj, err := drv.Get(e.ctx, key); err == nil {
		ver = obj.Version
	}
	if _, err := drv.Put(e.ctx, key, data, ver); err != nil {
		e.t.Fatalf("raw Put(%q): %v", key, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// instrumented wraps a driver to count requests and inject faults.
type instrumented struct {
	driver.Bucket
	gets, puts, deletes, lists atomic.Int64

	mu    sync.Mutex
	fault func(op, key string) fault // nil: no faults
	// applied runs after a write that a fault lets land, before the fault
	// fails it: another host's write goes there.
	applied func()
	// late is a write that failed at once and lands just before the next
	// write reaches the store: a timed-out request still in flight.
	late func(ctx context.Context)
}

// fault is what instrumented does to one request.
type fault int

const (
	none             fault = iota
	applyThenLose          // the request is applied, its response is lost
	applyThenEcho412       // applied; an SDK retry of it then meets its own success
	failBeforeApply        // the request never reaches the store
	hang                   // the request hangs until its context ends
	lateApply              // the request fails at once but lands just before the next write
)

var errInjected = errors.New("injected fault: connection reset by peer")

func (b *instrumented) setFault(f func(op, key string) fault) {
	b.mu.Lock()
	b.fault, b.applied = f, nil
	b.mu.Unlock()
}

// setFaultThen is setFault with then run after each faulted write lands and
// before its failure is returned.
func (b *instrumented) setFaultThen(f func(op, key string) fault, then func()) {
	b.mu.Lock()
	b.fault, b.applied = f, then
	b.mu.Unlock()
}

func (b *instrumented) afterApply() {
	b.mu.Lock()
	f := b.applied
	b.mu.Unlock()
	if f != nil {
		f()
	}
}

// faultFor asks the fault function about one request. It is called without
// b.mu held, so a fault function may itself use the stores of the case.
func (b *instrumented) faultFor(op, key string) fault {
	b.mu.Lock()
	f := b.fault
	b.mu.Unlock()
	if f == nil {
		return none
	}
	return f(op, key)
}

func (b *instrumented) counts() (gets, puts, deletes, lists int64) {
	return b.gets.Load(), b.puts.Load(), b.deletes.Load(), b.lists.Load()
}

func (b *instrumented) reset() {
	b.gets.Store(0)
	b.puts.Store(0)
	b.deletes.Store(0)
	b.lists.Store(0)
}

func (b *instrumented) Get(ctx context.Context, key string) (driver.Object, error) {
	b.gets.Add(1)
	if b.faultFor("get", key) == failBeforeApply {
		return driver.Object{}, errInjected
	}
	return b.Bucket.Get(ctx, key)
}

func (b *instrumented) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	b.puts.Add(1)
	b.mu.Lock()
	late := b.late
	b.late = nil
	b.mu.Unlock()
	if late != nil {
		late(ctx)
	}
	switch b.faultFor("put", key) {
	case lateApply:
		b.mu.Lock()
		b.late = func(ctx context.Context) {
			if _, err := b.Bucket.Put(ctx, key, data, ifVersion); err == nil {
				b.afterApply()
			}
		}
		b.mu.Unlock()
		return "", fmt.Errorf("injected timeout: %w", context.DeadlineExceeded)
	case failBeforeApply:
		return "", errInjected
	case hang:
		<-ctx.Done()
		return "", fmt.Errorf("injected hang: %w", ctx.Err())
	case applyThenLose:
		if _, err := b.Bucket.Put(ctx, key, data, ifVersion); err != nil {
			return "", err
		}
		b.afterApply()
		return "", errInjected
	case applyThenEcho412:
		if _, err := b.Bucket.Put(ctx, key, data, ifVersion); err != nil {
			return "", err
		}
		b.afterApply()
		return "", fmt.Errorf("injected retry echo: %w", driver.ErrRetriedPrecondition)
	}
	return b.Bucket.Put(ctx, key, data, ifVersion)
}

func (b *instrumented) Delete(ctx context.Context, key string) error {
	b.deletes.Add(1)
	if b.faultFor("delete", key) == failBeforeApply {
		return errInjected
	}
	return b.Bucket.Delete(ctx, key)
}

func (b *instrumented) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	b.lists.Add(1)
	if b.faultFor("list", prefix) == failBeforeApply {
		return nil, "", errInjected
	}
	return b.Bucket.List(ctx, prefix, token)
}

// once returns a fault function that injects f into the first matching
// request only.
func once(op string, f fault) func(string, string) fault {
	var used atomic.Bool
	return func(o, _ string) fault {
		if o == op && !used.Swap(true) {
			return f
		}
		return none
	}
}
