package blobstore

// Presence: one small record per live host, so that a group counts the hosts
// that own nothing yet. Balancing on lease ownership alone starves a newcomer
// that never wins a claim; with presence, every host's fair share counts it.
//
// A host's record lives at <prefix>.hosts/<escaped name>.json and follows the
// lease discipline: every write is conditional (create-only, then
// compare-and-swap on the version this Store last wrote), every write bumps a
// counter, and a host is live until an observer has seen the same counter
// for a whole lease duration by its own clock.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
)

const hostsDir = ".hosts/"

// Host is a host of the group as seen through its presence record.
type Host struct {
	Name string
	// UpdatedAt is the host's wall-clock time of its last heartbeat.
	// Informational only.
	UpdatedAt time.Time
	// UnchangedFor is how long this Store has seen no heartbeat from it.
	UnchangedFor time.Duration
	// Expired reports that this Store has seen no heartbeat from it for at
	// least the lease duration: the host is presumed dead.
	Expired bool
}

type presenceRecord struct {
	Schema int    `json:"schema"`
	Kind   string `json:"kind"`
	Host   string `json:"host"`
	// Incarnation is random per Store: a host that leaves and rejoins, or
	// restarts, is a new sighting even if its counter starts over.
	Incarnation string    `json:"incarnation"`
	Counter     uint64    `json:"counter"`
	Updated     time.Time `json:"updated"`
}

// presence is this Store's own presence state and its observations of others.
type presence struct {
	mu          sync.Mutex // our own record; held across a heartbeat's requests
	incarnation string     // random per Store
	version     string     // of our own record; "" before the first write
	counter     uint64

	obsMu sync.Mutex // observations, never held across a request
	obs   map[string]hostObservation
}

type hostObservation struct {
	incarnation string
	counter     uint64
	since       time.Time
}

// hostKey names a host's presence record. Names that escape to more than fit
// in one file name are hashed; the record holds the full name.
func (s *Store) hostKey(name string) string {
	esc := url.PathEscape(name)
	if len(esc) > MaxPartitionIDLen {
		sum := sha256.Sum256([]byte(name))
		esc = "h-" + hex.EncodeToString(sum[:16])
	}
	return s.prefix + hostsDir + esc + recordSuffix
}

// Heartbeat writes this host's presence record: one conditional write. Call
// it every RenewInterval while the host is part of the group.
func (s *Store) Heartbeat(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	key := s.hostKey(s.owner)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if p.incarnation == "" {
			p.incarnation = randomHex(8)
		}
		rec := presenceRecord{Schema: schemaVersion, Kind: "host", Host: s.owner, Incarnation: p.incarnation,
			Counter: p.counter + 1, Updated: s.wallNow()}
		data, _ := json.Marshal(rec)
		ifVersion := p.version
		v, err := s.bkt.Put(ctx, key, data, ifVersion)
		if err == nil {
			p.version, p.counter = v, rec.Counter
			return nil
		}
		if errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrPermission) {
			return wrapDriverErr("heartbeat", key, err)
		}
		// Unknown outcome or a record we did not expect (our own earlier
		// incarnation, or a lost response): read it and write on top.
		obj, gerr := s.bkt.Get(ctx, key)
		switch {
		case errors.Is(gerr, driver.ErrNotFound):
			p.version = driver.CreateOnly
		case gerr != nil:
			// Report what failed last, and what failed first with it.
			return fmt.Errorf("%w: heartbeat %q: the write failed (%w) and so did the read-back: %w",
				ErrUnavailable, key, err, gerr)
		case string(obj.Data) == string(data):
			p.version, p.counter = obj.Version, rec.Counter
			return nil
		default:
			var cur presenceRecord
			if jerr := json.Unmarshal(obj.Data, &cur); jerr != nil || cur.Kind != "host" {
				return &CorruptRecordError{Key: key, Reason: "not a host presence record", Err: jerr}
			}
			p.version, p.counter = obj.Version, max(p.counter, cur.Counter)
		}
	}
	return fmt.Errorf("%w: heartbeat %q: the record kept changing (is another host using the name %q?)", ErrUnavailable, key, s.owner)
}

// Leave deletes this host's presence record, so the others stop counting it
// at once. Call it on graceful shutdown, after releasing the leases.
func (s *Store) Leave(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	key := s.hostKey(s.owner)
	if err := s.bkt.Delete(ctx, key, ""); err != nil {
		return wrapDriverErr("leave", key, err)
	}
	p.version = driver.CreateOnly // the counter carries on, and so does the incarnation
	return nil
}

// ListHosts returns the hosts with a presence record, sorted by name, with
// this Store's observation of their liveness. One listing plus one read per
// host.
func (s *Store) ListHosts(ctx context.Context) ([]Host, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	dir := s.prefix + hostsDir
	var keys []string
	token := ""
	for {
		page, next, err := s.bkt.List(ctx, dir, token)
		if err != nil {
			return nil, wrapDriverErr("list", dir, err)
		}
		keys = append(keys, page...)
		if next == "" {
			break
		}
		token = next
	}
	hosts := make([]Host, 0, len(keys))
	now := s.clock.Now()
	p := &s.presence
	for _, key := range keys {
		obj, err := s.bkt.Get(ctx, key)
		if errors.Is(err, driver.ErrNotFound) {
			continue // left while we listed
		}
		if err != nil {
			return nil, wrapDriverErr("get", key, err)
		}
		var rec presenceRecord
		if err := json.Unmarshal(obj.Data, &rec); err != nil || rec.Kind != "host" || rec.Host == "" {
			return nil, &CorruptRecordError{Key: key, Reason: "not a host presence record", Err: err}
		}
		h := Host{Name: rec.Host, UpdatedAt: rec.Updated}
		p.obsMu.Lock()
		if p.obs == nil {
			p.obs = map[string]hostObservation{}
		}
		o, seen := p.obs[rec.Host]
		if !seen || o.counter != rec.Counter || o.incarnation != rec.Incarnation {
			p.obs[rec.Host] = hostObservation{incarnation: rec.Incarnation, counter: rec.Counter, since: now}
		} else {
			h.UnchangedFor = now.Sub(o.since)
			h.Expired = h.UnchangedFor >= s.leaseDur && rec.Host != s.owner
		}
		p.obsMu.Unlock()
		hosts = append(hosts, h)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	return hosts, nil
}
