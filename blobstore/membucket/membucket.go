// Package membucket is an in-memory driver.Bucket with atomic create-only
// and compare-and-swap writes. It backs "mem://" store URLs and
// the default run of the conformance suite.
//
// Unlike gocloud.dev's memblob, which has create-only writes but no
// compare-and-swap, every conditional operation here holds one mutex, and
// version tokens come from a per-namespace generation counter, so a token
// never repeats, not even for byte-identical content.
package membucket

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// PageSize is how many keys List returns at most per call.
const PageSize = 1000

type namespace struct {
	mu   sync.Mutex
	objs map[string]entry
	gen  uint64
}

type entry struct {
	data     []byte
	version  string
	modified time.Time
}

var named = struct {
	sync.Mutex
	m map[string]*namespace
}{m: map[string]*namespace{}}

// Bucket is a driver.Bucket over one in-memory namespace.
type Bucket struct {
	ns *namespace
}

var _ driver.Bucket = (*Bucket)(nil)

// New returns a Bucket over a new, private, empty namespace.
func New() *Bucket {
	return &Bucket{ns: &namespace{objs: map[string]entry{}}}
}

// Open returns a new Bucket value over the process-wide namespace called
// name, creating the namespace on first use. Every Bucket opened with the same
// name shares the same objects, as separate hosts sharing one store would.
// Named namespaces live until the process exits.
func Open(name string) *Bucket {
	named.Lock()
	defer named.Unlock()
	ns, ok := named.m[name]
	if !ok {
		ns = &namespace{objs: map[string]entry{}}
		named.m[name] = ns
	}
	return &Bucket{ns: ns}
}

// Get implements driver.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := ctx.Err(); err != nil {
		return driver.Object{}, err
	}
	b.ns.mu.Lock()
	e, ok := b.ns.objs[key]
	b.ns.mu.Unlock()
	if !ok {
		return driver.Object{}, driver.ErrNotFound
	}
	return driver.Object{Data: append([]byte(nil), e.data...), Version: e.version}, nil
}

// Put implements driver.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.ns.mu.Lock()
	defer b.ns.mu.Unlock()
	cur, exists := b.ns.objs[key]
	switch {
	case ifVersion == driver.CreateOnly && exists:
		return "", fmt.Errorf("%w: the object exists", driver.ErrPrecondition)
	case ifVersion != driver.CreateOnly && !exists:
		return "", fmt.Errorf("%w: the object is missing", driver.ErrPrecondition)
	case ifVersion != driver.CreateOnly && cur.version != ifVersion:
		return "", fmt.Errorf("%w: the version changed", driver.ErrPrecondition)
	}
	b.ns.gen++
	v := strconv.FormatUint(b.ns.gen, 10)
	b.ns.objs[key] = entry{data: append([]byte(nil), data...), version: v, modified: time.Now()}
	return v, nil
}

// Delete implements driver.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.ns.mu.Lock()
	defer b.ns.mu.Unlock()
	delete(b.ns.objs, key)
	return nil
}

// List implements driver.Bucket. The page token is the last key returned.
func (b *Bucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	b.ns.mu.Lock()
	var entries []driver.Entry
	for k, e := range b.ns.objs {
		if strings.HasPrefix(k, prefix) && k > pageToken {
			entries = append(entries, driver.Entry{Key: k, Version: e.version, Modified: e.modified})
		}
	}
	b.ns.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	if len(entries) > PageSize {
		entries = entries[:PageSize]
		return entries, entries[len(entries)-1].Key, nil
	}
	return entries, "", nil
}

// Close implements driver.Bucket. It does not discard a named namespace.
func (b *Bucket) Close() error { return nil }
