package blobstore

// Presence: one small record per live host. It does two jobs.
//
// It counts the hosts that own nothing yet: balancing on lease ownership
// alone starves a newcomer that never wins a claim; with presence, every
// host's fair share counts it.
//
// And its periodic write renews every lease the host holds (rules 5 and 7 in
// lease.go): a group whose partitions are idle writes one presence record per
// host per interval, not one lease record per partition.
//
// A host's record lives at <prefix>.hosts/<escaped name>/<incarnation>.json:
// an incarnation is random per Store and changes whenever the record's
// renewals are revoked, so a listing alone tells which incarnation is alive,
// and a lease names the incarnation that renews it (record.Presence). The
// record follows the lease discipline: every write is conditional
// (create-only, then compare-and-swap on the version this Store last wrote),
// every write's bytes differ (a counter), and observers judge it by its
// listed version on their own clocks. A host that an observer finds silent
// is fenced: the observer overwrites its record with a compare-and-swap
// marked "fenced", so a heartbeat still in flight fails instead of renewing
// anything.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	// ModifiedAt is when the store last wrote its presence record, by the
	// store's own clock, as the listing showed it; zero when unknown.
	// Informational only: liveness never uses it.
	ModifiedAt time.Time
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
	// FencedBy names the host that declared this one dead. A fenced record
	// renews nothing; its host starts a new incarnation over it.
	FencedBy string `json:"fencedBy,omitempty"`
	// Replaced is the version of the record the fence replaced: a fence
	// found in place counts for a host that meant to fence that version
	// only (a later one means the host heartbeat since).
	Replaced string `json:"replaced,omitempty"`
}

// presence is this Store's own presence state and its observations of others.
type presence struct {
	mu          sync.Mutex // our own record; held across a heartbeat's requests
	incarnation string     // random; a new one on every revocation (rule 7)
	version     string     // of our own record; "" before its first write
	counter     uint64
	// stale is an earlier incarnation's key to delete (best effort).
	stale string
	// credit is what Remaining reads without the lock: the incarnation and
	// the start of its last heartbeat that landed.
	credit atomic.Pointer[hbCredit]

	obsMu  sync.Mutex                 // observations, never held across a request
	obs    map[string]hostObservation // by key
	absent map[string]absence         // keys a listing or read found missing
}

// hbCredit is a heartbeat's renewal: the leases of incarnation inc count as
// renewed at start.
type hbCredit struct {
	inc   string
	start time.Time
	// version is the presence record's version that heartbeat wrote.
	version string
	// covering is true while inc stands established: a lease acquired now
	// is renewed by inc's heartbeats.
	covering bool
}

// hostObservation is what this Store saw of one presence record: the
// version it last listed, since when, whether those bytes were a fence, and
// the host's name once known.
type hostObservation struct {
	version string
	since   time.Time
	name    string
	fenced  bool
	checked time.Time // when a listing or read last confirmed version
}

// absence is a presence record found missing: since when, and when a
// listing or read last confirmed it.
type absence struct {
	since, checked time.Time
}

// hostKey names the presence record of one incarnation of a host. Names that
// escape to more than fit in one file name are hashed; the record holds the
// full name.
func (s *Store) hostKey(name, incarnation string) string {
	esc := url.PathEscape(name)
	if len(esc) > MaxPartitionIDLen {
		sum := sha256.Sum256([]byte(name))
		esc = "h-" + hex.EncodeToString(sum[:16])
	}
	return s.prefix + hostsDir + esc + "/" + incarnation + recordSuffix
}

// Heartbeat writes this host's presence record: one conditional write. Call
// it every RenewInterval while the host is part of the group. A heartbeat
// that lands renews every lease this Store acquired while its presence stood
// established (rule 7 in lease.go). A record found fenced, removed or
// overwritten renews nothing more: the heartbeat starts a new incarnation,
// under a new key, and only leases acquired after that count.
func (s *Store) Heartbeat(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	start := s.clock.Now()
	if p.incarnation == "" {
		p.incarnation = randomHex(8)
	}
	changed := false // another writer's bytes were found
	var lastErr error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(attempt*attempt)*20*time.Millisecond); err != nil {
				return fmt.Errorf("%w: heartbeat %q: %w (gave up waiting to retry: %w)", ErrUnavailable, s.hostKey(s.owner, p.incarnation), lastErr, err)
			}
		}
		key := s.hostKey(s.owner, p.incarnation)
		rec := presenceRecord{Schema: schemaVersion, Kind: "host", Host: s.owner, Incarnation: p.incarnation,
			Counter: p.counter + 1, Updated: s.wallNow()}
		data, _ := json.Marshal(rec)
		v, err := s.bkt.Put(ctx, key, data, p.version)
		if err == nil {
			p.landed(v, rec.Counter, start)
			s.dropStale(ctx)
			return nil
		}
		if errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrPermission) {
			return wrapDriverErr("heartbeat", key, err)
		}
		lastErr = err
		// Unknown outcome or a record we did not expect: read it.
		rctx, cancel := readBackContext(ctx)
		obj, gerr := s.bkt.Get(rctx, key)
		cancel()
		switch {
		case errors.Is(gerr, driver.ErrNotFound):
			if p.version != driver.CreateOnly {
				p.revoke() // our record was removed: it renews nothing more
			}
		case gerr != nil:
			// Report what failed last, and what failed first with it.
			return fmt.Errorf("%w: heartbeat %q: the write failed (%w) and so did the read-back: %w",
				ErrUnavailable, key, err, gerr)
		case string(obj.Data) == string(data):
			p.landed(obj.Version, rec.Counter, start) // our write landed; its response was lost
			s.dropStale(ctx)
			return nil
		case obj.Version == p.version:
			// Our last heartbeat, unchanged: this one did not land (an
			// outage, a timeout). Send it again; the incarnation stands.
		default:
			// Another writer's bytes: a host that declared us dead. Our
			// record did not stand: start over as a new incarnation.
			changed = true
			p.revoke()
		}
	}
	if !changed {
		return fmt.Errorf("%w: heartbeat %q: gave up after %d attempts: %w", ErrUnavailable, s.hostKey(s.owner, p.incarnation), maxAttempts, lastErr)
	}
	return fmt.Errorf("%w: heartbeat %q: the record kept changing (is another host using the name %q?)",
		ErrUnavailable, s.hostKey(s.owner, p.incarnation), s.owner)
}

// landed records a heartbeat that landed: it renews the leases of the
// current incarnation from start. The caller holds p.mu.
func (p *presence) landed(version string, counter uint64, start time.Time) {
	p.version, p.counter = version, counter
	p.credit.Store(&hbCredit{inc: p.incarnation, start: start, version: version, covering: true})
}

// revoke ends the current incarnation: no later heartbeat renews a lease
// acquired before. The next heartbeat creates a new record under a new key;
// the old key is deleted once it lands. The caller holds p.mu.
func (p *presence) revoke() {
	if p.version != driver.CreateOnly {
		p.stale = p.incarnation
	}
	p.incarnation, p.version = randomHex(8), driver.CreateOnly
	p.credit.Store(&hbCredit{inc: p.incarnation})
}

// dropStale deletes the record of a revoked incarnation, if any. It renews
// nothing; deleting it only spares the others a listing entry. The caller
// holds p.mu.
func (s *Store) dropStale(ctx context.Context) {
	p := &s.presence
	if p.stale == "" {
		return
	}
	if err := s.bkt.Delete(ctx, s.hostKey(s.owner, p.stale)); err == nil {
		p.stale = ""
	}
}

// cover returns the incarnation a lease acquired now is renewed by: the
// current one if it is established, else none.
func (p *presence) cover() string {
	if c := p.credit.Load(); c != nil && c.covering {
		return c.inc
	}
	return ""
}

// Presence parts of a Lease.Version beyond a record version: the presence
// record renews nothing (fenced or removed), or this Store does not know it.
const (
	presenceSilent  = "!"
	presenceUnknown = "?"
)

// presenceVersion returns the version of the presence record of owner's
// incarnation as this Store knows it: its own last heartbeat's, or the last
// listing's or read's; presenceSilent when that record is fenced or was
// found removed, presenceUnknown when this Store has not seen it.
func (s *Store) presenceVersion(owner, incarnation string) string {
	if owner == s.owner {
		if c := s.presence.credit.Load(); c != nil && c.inc == incarnation && c.version != "" {
			return c.version
		}
	}
	key := s.hostKey(owner, incarnation)
	p := &s.presence
	p.obsMu.Lock()
	defer p.obsMu.Unlock()
	if o, ok := p.obs[key]; ok {
		if o.fenced {
			return presenceSilent
		}
		return o.version
	}
	if _, ok := p.absent[key]; ok {
		return presenceSilent
	}
	return presenceUnknown
}

// heartbeatRenewal returns when the last heartbeat renewed a lease of
// incarnation inc, or the zero time.
func (p *presence) heartbeatRenewal(inc string) time.Time {
	if c := p.credit.Load(); c != nil && inc != "" && c.inc == inc {
		return c.start
	}
	return time.Time{}
}

// Leave deletes this host's presence record, so the others stop counting it
// at once. Call it on graceful shutdown. The leases this Store holds stay
// renewed up to the lease duration after the last heartbeat that landed, so
// they can still be flushed and released; no later heartbeat renews them
// (a host that heartbeats again after Leave does so as a new incarnation).
// Others take a lease left behind once its record stood still, and its
// incarnation's presence record stayed missing, for a lease duration.
func (s *Store) Leave(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.incarnation == "" {
		return nil // never joined
	}
	old := s.hostKey(s.owner, p.incarnation)
	if c := p.credit.Load(); c != nil {
		p.credit.Store(&hbCredit{inc: c.inc, start: c.start}) // no longer covering new leases
	}
	p.incarnation, p.version, p.stale = randomHex(8), driver.CreateOnly, ""
	if err := s.bkt.Delete(ctx, old); err != nil {
		return wrapDriverErr("leave", old, err)
	}
	return nil
}

// ownerSilent reports whether the incarnation of owner's presence that
// renews a lease renews nothing now, as far as this Store's observations
// tell: the lease names none, or its record is fenced, or it stood unchanged
// (or missing) for a lease duration (fenceVersion is then the version to fence before taking one of
// its leases). fresh is false when no listing or read of the record since
// asOf backs the answer: the caller must refresh it first.
func (s *Store) ownerSilent(owner, incarnation string, asOf time.Time) (silent bool, fenceVersion string, fresh bool) {
	if incarnation == "" {
		return true, "", true // only the record's own writes renew it
	}
	key := s.hostKey(owner, incarnation)
	now := s.clock.Now()
	p := &s.presence
	p.obsMu.Lock()
	defer p.obsMu.Unlock()
	if a, ok := p.absent[key]; ok {
		// Removed (Leave): its last heartbeat's renewal lasts a lease
		// duration, and no heartbeat of it comes after.
		return now.Sub(a.since) >= s.leaseDur, "", !a.checked.Before(asOf)
	}
	o, ok := p.obs[key]
	if !ok {
		return false, "", false
	}
	fresh = !o.checked.Before(asOf)
	switch {
	case o.fenced:
		return true, "", fresh
	case now.Sub(o.since) >= s.leaseDur:
		return true, o.version, fresh
	}
	return false, "", fresh
}

// presenceLive reports whether the last listing showed owner's incarnation
// still there: listed and not fenced. (It may stand still: a host whose
// checkpoints renew all its leases need not heartbeat.)
func (s *Store) presenceLive(owner, incarnation string) bool {
	if incarnation == "" {
		return false
	}
	o, ok := s.observation(s.hostKey(owner, incarnation))
	return ok && !o.fenced
}

// refreshOwner reads the presence record of one of owner's incarnations and
// notes what it shows: one request.
func (s *Store) refreshOwner(ctx context.Context, owner, incarnation string) error {
	key := s.hostKey(owner, incarnation)
	obj, err := s.bkt.Get(ctx, key)
	switch {
	case errors.Is(err, driver.ErrNotFound):
		s.notePresent(key, "", false, owner)
		return nil
	case err != nil:
		return wrapDriverErr("get", key, err)
	}
	var rec presenceRecord
	if err := json.Unmarshal(obj.Data, &rec); err != nil || rec.Kind != "host" {
		return s.metrics.corruptIn(ctx, recordHost, &CorruptRecordError{Key: key, Reason: "not a host presence record", Err: err})
	}
	s.notePresent(key, obj.Version, rec.FencedBy != "", rec.Host)
	return nil
}

// notePresent records that the presence record at key was just seen at
// version (version "": missing), fenced or not.
func (s *Store) notePresent(key, version string, fenced bool, name string) {
	now := s.clock.Now()
	p := &s.presence
	p.obsMu.Lock()
	defer p.obsMu.Unlock()
	if p.obs == nil {
		p.obs, p.absent = map[string]hostObservation{}, map[string]absence{}
	}
	if version == "" {
		a, ok := p.absent[key]
		if !ok {
			a.since = now
		}
		a.checked = now
		p.absent[key] = a
		delete(p.obs, key)
		return
	}
	delete(p.absent, key)
	o := p.obs[key]
	if o.version != version || o.since.IsZero() {
		o.version, o.since = version, now
	}
	o.fenced, o.checked = fenced, now
	if name != "" {
		o.name = name
	}
	p.obs[key] = o
}

// errHostLeft marks a fence that found the presence record removed: the
// host left (Leave), and no heartbeat of that incarnation comes after.
var errHostLeft = errors.New("left")

// fence declares owner dead: a compare-and-swap of its presence record at
// version, the one this Store saw unchanged for a lease duration, to a record
// marked fenced. A heartbeat still in flight then fails and renews nothing,
// so owner's leases whose records also stood still may be taken. It returns
// nil when the record is fenced at version (by this Store or another), and
// ErrLeaseHeld when the host wrote since: it is alive (or was, when another
// host fenced a later version).
func (s *Store) fence(ctx context.Context, owner, incarnation, version string) error {
	key := s.hostKey(owner, incarnation)
	// A random counter makes the bytes differ from any other fence's.
	rec := presenceRecord{Schema: schemaVersion, Kind: "host", Host: owner, Incarnation: incarnation,
		Counter: mrand.Uint64(), Updated: s.wallNow(), FencedBy: s.owner, Replaced: version}
	data, _ := json.Marshal(rec)
	v, err := s.bkt.Put(ctx, key, data, version)
	if err == nil {
		s.notePresent(key, v, true, owner)
		return nil
	}
	rctx, cancel := readBackContext(ctx)
	obj, gerr := s.bkt.Get(rctx, key)
	cancel()
	switch {
	case errors.Is(gerr, driver.ErrNotFound):
		s.notePresent(key, "", false, owner)
		return fmt.Errorf("%w: host %q %w while being declared dead", ErrLeaseHeld, owner, errHostLeft)
	case gerr != nil:
		return fmt.Errorf("%w: fencing host %q: %w; the read-back failed: %w", ErrUnavailable, owner, wrapDriverErr("put", key, err), gerr)
	case string(obj.Data) == string(data):
		s.notePresent(key, obj.Version, true, owner)
		return nil
	}
	var cur presenceRecord
	if jerr := json.Unmarshal(obj.Data, &cur); jerr != nil || cur.Kind != "host" {
		return s.metrics.corruptIn(ctx, recordHost, &CorruptRecordError{Key: key, Reason: "not a host presence record", Err: jerr})
	}
	s.notePresent(key, obj.Version, cur.FencedBy != "", cur.Host)
	if cur.FencedBy != "" && cur.Replaced == version {
		return nil // another host fenced it first, at the version we saw
	}
	if cur.FencedBy != "" {
		return fmt.Errorf("%w: host %q heartbeat since it was seen, and was then fenced by %q", ErrLeaseHeld, owner, cur.FencedBy)
	}
	return fmt.Errorf("%w: host %q heartbeat since it was seen silent", ErrLeaseHeld, owner)
}

// ListHosts returns the hosts with a presence record, sorted by name, with
// this Store's observation of their liveness. One listing plus one read per
// host (for UpdatedAt); Scan judges liveness without the reads.
func (s *Store) ListHosts(ctx context.Context) ([]Host, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	dir := s.prefix + hostsDir
	var entries []driver.Entry
	token := ""
	for {
		page, next, err := s.bkt.List(ctx, dir, token)
		if err != nil {
			return nil, wrapDriverErr("list", dir, err)
		}
		for _, e := range page {
			if isHostKey(strings.TrimPrefix(e.Key, s.prefix)) {
				entries = append(entries, e)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	return s.hostsOf(ctx, entries, true)
}

// hostsOf returns the hosts of listed presence records, which must be all
// of them. A host is alive while its record's version keeps changing; it has
// expired when this Store has listed the same version for a whole lease
// duration, or found it fenced (its own host never expires). With read,
// every record is read (for UpdatedAt); without, a record is read only when
// its key does not spell its host's name (once), or when it changed after
// standing still for half a lease duration or after a fence: a fence by
// another host looks like a heartbeat in a listing.
func (s *Store) hostsOf(ctx context.Context, entries []driver.Entry, read bool) ([]Host, error) {
	hosts := make([]Host, 0, len(entries))
	listed := make(map[string]bool, len(entries))
	for _, e := range entries {
		listed[e.Key] = true
		now := s.clock.Now()
		o, known := s.observation(e.Key)
		suspect := known && o.version != e.Version && (o.fenced || now.Sub(o.since) >= s.leaseDur/2)
		name, named := s.hostNameOf(e.Key)
		if !named && o.name != "" {
			name, named = o.name, true
		}
		h := Host{Name: name, ModifiedAt: e.Modified}
		version, fenced := e.Version, known && o.fenced && o.version == e.Version
		if read || suspect || !named {
			obj, err := s.bkt.Get(ctx, e.Key)
			switch {
			case errors.Is(err, driver.ErrNotFound):
				listed[e.Key] = false
				continue // left while we listed
			case err != nil && read:
				return nil, wrapDriverErr("get", e.Key, err)
			case err != nil && !named:
				continue // cannot name it this time; the next listing tries again
			case err != nil:
				// A balancer carries on: the change counts as a heartbeat
				// (the host alive), which at worst delays a takeover.
				s.notePresent(e.Key, version, false, h.Name)
				o, _ = s.observation(e.Key)
				h.UnchangedFor = 0
				hosts = append(hosts, h)
				continue
			}
			var rec presenceRecord
			if err := json.Unmarshal(obj.Data, &rec); err != nil || rec.Kind != "host" || rec.Host == "" {
				return nil, s.metrics.corruptIn(ctx, recordHost, &CorruptRecordError{Key: e.Key, Reason: "not a host presence record", Err: err})
			}
			h.Name, h.UpdatedAt = rec.Host, rec.Updated
			version, fenced = obj.Version, rec.FencedBy != ""
		}
		s.notePresent(e.Key, version, fenced, h.Name)
		o, _ = s.observation(e.Key)
		h.UnchangedFor = now.Sub(o.since)
		h.Expired = (o.fenced || h.UnchangedFor >= s.leaseDur) && h.Name != s.owner
		hosts = append(hosts, h)
	}
	s.noteMissing(listed)
	return mergeHosts(hosts), nil
}

// mergeHosts folds the records of one host's incarnations into one Host,
// sorted by name: alive if any incarnation is.
func mergeHosts(in []Host) []Host {
	sort.SliceStable(in, func(i, j int) bool { return in[i].Name < in[j].Name })
	out := in[:0]
	for _, h := range in {
		if n := len(out); n > 0 && out[n-1].Name == h.Name {
			m := &out[n-1]
			m.Expired = m.Expired && h.Expired
			m.UnchangedFor = min(m.UnchangedFor, h.UnchangedFor)
			if h.UpdatedAt.After(m.UpdatedAt) {
				m.UpdatedAt = h.UpdatedAt
			}
			if h.ModifiedAt.After(m.ModifiedAt) {
				m.ModifiedAt = h.ModifiedAt
			}
			continue
		}
		out = append(out, h)
	}
	return out
}

// observation returns what this Store last noted of the presence record at
// key.
func (s *Store) observation(key string) (hostObservation, bool) {
	p := &s.presence
	p.obsMu.Lock()
	defer p.obsMu.Unlock()
	o, ok := p.obs[key]
	return o, ok
}

// noteMissing records that a complete listing of the hosts showed none of
// the keys this Store knew but listed lacks.
func (s *Store) noteMissing(listed map[string]bool) {
	now := s.clock.Now()
	p := &s.presence
	p.obsMu.Lock()
	defer p.obsMu.Unlock()
	for key := range p.obs {
		if !listed[key] {
			delete(p.obs, key)
			p.absent[key] = absence{since: now, checked: now}
		}
	}
	for key, a := range p.absent {
		switch {
		case listed[key]:
		case now.Sub(a.since) >= 10*s.leaseDur:
			delete(p.absent, key) // long gone: a lease naming it is read again
		default:
			a.checked = now
			p.absent[key] = a
		}
	}
}

// hostNameOf returns the host name a presence key spells, when it spells
// one: hostKey hashes names too long for a file name, and only the record
// then holds the name.
func (s *Store) hostNameOf(key string) (string, bool) {
	rest, ok := strings.CutSuffix(strings.TrimPrefix(key, s.prefix+hostsDir), recordSuffix)
	if !ok {
		return "", false
	}
	esc, inc, ok := strings.Cut(rest, "/")
	if !ok || strings.HasPrefix(esc, "h-") {
		return "", false // maybe hashed: "h-" is also a name's escape, so read it once
	}
	name, err := url.PathUnescape(esc)
	if err != nil || s.hostKey(name, inc) != key {
		return "", false
	}
	return name, true
}

// isHostKey reports whether name, a key below the store's prefix, is a host
// presence record: .hosts/<name>/<incarnation>.json, or the
// .hosts/<name>.json of releases before incarnations had keys of their own.
func isHostKey(name string) bool {
	rest, ok := strings.CutPrefix(name, hostsDir)
	return ok && strings.HasSuffix(rest, recordSuffix) && strings.Count(rest, "/") <= 1
}
