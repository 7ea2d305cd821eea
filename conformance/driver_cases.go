package conformance

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// racers is how many separate Bucket values race for one conditional write.
const racers = 16

// driverCases state the driver.Bucket contract (see package driver) once, at
// the driver level: no blobstore.Store is involved, so a failure here points
// at the driver alone.
var driverCases = []testCase{
	{"CreateOnly", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		key := e.prefix + "k"
		v1, err := b.Put(e.ctx, key, []byte("first"), driver.CreateOnly)
		noErr(t, "first create-only Put", err)
		if v1 == "" {
			t.Fatal("create-only Put returned an empty version")
		}
		_, err = b.Put(e.ctx, key, []byte("second"), driver.CreateOnly)
		wantErr(t, "second create-only Put", err, driver.ErrPrecondition)
		wantObject(t, e, b, key, "first", v1, "after a refused create-only Put")
	}},
	{"CompareAndSwap", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		key := e.prefix + "k"
		v1, err := b.Put(e.ctx, key, []byte("one"), driver.CreateOnly)
		noErr(t, "create-only Put", err)
		v2, err := b.Put(e.ctx, key, []byte("two"), v1)
		noErr(t, "Put with the current version", err)
		if v2 == "" || v2 == v1 {
			t.Fatalf("Put with the current version returned version %q after %q: want a new one", v2, v1)
		}
		wantObject(t, e, b, key, "two", v2, "after a compare-and-swap")

		_, err = b.Put(e.ctx, key, []byte("three"), v1)
		wantErr(t, "Put with a stale version", err, driver.ErrPrecondition)
		wantObject(t, e, b, key, "two", v2, "after a refused stale Put")

		missing := e.prefix + "missing"
		_, err = b.Put(e.ctx, missing, []byte("x"), v2)
		if !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Put with a version on a missing key: got error %v, want one matching %v or %v",
				err, driver.ErrPrecondition, driver.ErrNotFound)
		}
		_, err = b.Get(e.ctx, missing)
		wantErr(t, "Get after a refused Put on a missing key", err, driver.ErrNotFound)
	}},
	{"RacingCompareAndSwap", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		key := e.prefix + "k"
		v0, err := b.Put(e.ctx, key, []byte("start"), driver.CreateOnly)
		noErr(t, "create-only Put", err)
		race(t, e, b, key, v0)
	}},
	{"RacingCreateOnly", func(t *testing.T, e *env) {
		race(t, e, openDriver(t, e), e.prefix+"k", driver.CreateOnly)
	}},
	{"GetAndDelete", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		key := e.prefix + "k"
		_, err := b.Get(e.ctx, key)
		wantErr(t, "Get of a missing key", err, driver.ErrNotFound)
		noErr(t, "Delete of a missing key", b.Delete(e.ctx, key))

		_, err = b.Put(e.ctx, key, []byte("x"), driver.CreateOnly)
		noErr(t, "create-only Put", err)
		noErr(t, "Delete", b.Delete(e.ctx, key))
		_, err = b.Get(e.ctx, key)
		wantErr(t, "Get after Delete", err, driver.ErrNotFound)
		if got := listAll(t, e, b, e.prefix); len(got) != 0 {
			t.Fatalf("List after Delete = %v, want nothing", got)
		}
		noErr(t, "second Delete", b.Delete(e.ctx, key))
		v, err := b.Put(e.ctx, key, []byte("again"), driver.CreateOnly)
		noErr(t, "create-only Put after Delete", err)
		wantObject(t, e, b, key, "again", v, "re-created after Delete")
	}},
	{"ListWithVersions", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		// Written out of lexical order, one of them nested one level deeper.
		subs := map[string][]string{
			"one/":   {"k"},
			"two/":   {"b", "a"},
			"three/": {"c", "b", "a/nested"},
		}
		// Keys just outside the sub-prefixes: a sibling sharing their first
		// letters, a key that sorts just before "one/", and a key that is a
		// string prefix of "two/". (No key is also a sub-prefix without its
		// slash: a file system cannot hold "one" and "one/k" at once.)
		outside := []string{e.prefix + "onex/k", e.prefix + "one.json", e.prefix + "tw"}
		want := map[string]string{} // key -> the version Put returned
		for sub, names := range subs {
			for _, n := range names {
				key := e.prefix + sub + n
				v, err := b.Put(e.ctx, key, []byte("first "+key), driver.CreateOnly)
				noErr(t, "create-only Put", err)
				want[key] = v
			}
		}
		for _, key := range outside {
			_, err := b.Put(e.ctx, key, []byte("outside "+key), driver.CreateOnly)
			noErr(t, "create-only Put", err)
		}
		// A listing reports the version of the current bytes, not the first.
		key := e.prefix + "two/a"
		v, err := b.Put(e.ctx, key, []byte("second "+key), want[key])
		noErr(t, "Put with the current version", err)
		want[key] = v

		for sub, names := range subs {
			var keys []string
			for _, n := range names {
				keys = append(keys, e.prefix+sub+n)
			}
			slices.Sort(keys)
			got := listAll(t, e, b, e.prefix+sub)
			if listed := entryKeys(got); !slices.Equal(listed, keys) {
				t.Errorf("List(%q) = %q, want %q (lexical order, each once, none outside the prefix)", e.prefix+sub, listed, keys)
				continue
			}
			for _, ent := range got {
				obj, err := b.Get(e.ctx, ent.Key)
				noErr(t, "Get of a listed key", err)
				if ent.Version != want[ent.Key] || ent.Version != obj.Version {
					t.Errorf("%s: listed version %q, Put returned %q, Get returns %q: want one token",
						ent.Key, ent.Version, want[ent.Key], obj.Version)
				}
			}
		}

		all := slices.Concat(slices.Collect(maps.Keys(want)), outside)
		slices.Sort(all)
		if listed := entryKeys(listAll(t, e, b, e.prefix)); !slices.Equal(listed, all) {
			t.Errorf("List(%q) = %q, want %q", e.prefix, listed, all)
		}

		entries, next, err := b.List(e.ctx, e.prefix+"empty/", "")
		noErr(t, "List of a prefix with no objects", err)
		if len(entries) != 0 || next != "" {
			t.Fatalf("List of a prefix with no objects = %v, next %q: want nothing", entries, next)
		}
	}},
	{"ListShowsModified", func(t *testing.T, e *env) {
		// The store's clock, not ours: it only has to be near it (emulators
		// and cloud stores keep time), and never go back for one key.
		b := openDriver(t, e)
		key := e.prefix + "m"
		v, err := b.Put(e.ctx, key, []byte("first"), driver.CreateOnly)
		noErr(t, "create-only Put", err)
		first := listAll(t, e, b, e.prefix)
		if len(first) != 1 || first[0].Modified.IsZero() {
			t.Fatalf("List = %+v: want one entry with its modification time", first)
		}
		if d := time.Since(first[0].Modified); d > time.Hour || d < -time.Hour {
			t.Fatalf("listed modification time %v is %v from this machine's clock", first[0].Modified, d)
		}
		_, err = b.Put(e.ctx, key, []byte("second"), v)
		noErr(t, "Put with the current version", err)
		second := listAll(t, e, b, e.prefix)
		if len(second) != 1 || second[0].Modified.Before(first[0].Modified.Add(-time.Second)) {
			t.Fatalf("after a rewrite List = %+v; the first listing showed %v", second, first[0].Modified)
		}
	}},
	{"MissingBucket", func(t *testing.T, e *env) {
		mh, ok := e.h.(MissingBucketHarness)
		if !ok {
			t.Skip("the harness cannot open a missing bucket: it does not implement conformance.MissingBucketHarness")
		}
		b, err := mh.OpenMissingBucket(e.ctx)
		noErr(t, "OpenMissingBucket", err)
		t.Cleanup(func() { b.Close() })
		key := e.prefix + "k"
		_, err = b.Get(e.ctx, key)
		wantErr(t, "Get in a missing bucket", err, driver.ErrBucketNotFound)
		_, _, err = b.List(e.ctx, e.prefix, "")
		wantErr(t, "List of a missing bucket", err, driver.ErrBucketNotFound)
		// Last: a driver whose container is made on first write (the file
		// driver's directory) creates it here.
		v, err := b.Put(e.ctx, key, []byte("x"), driver.CreateOnly)
		if err == nil {
			t.Logf("create-only Put in a missing bucket succeeded: the driver creates its container on first write")
			wantObject(t, e, b, key, "x", v, "written by the Put that created the bucket")
			return
		}
		wantErr(t, "create-only Put in a missing bucket", err, driver.ErrBucketNotFound)
	}},
	{"ErrorsNameNoKey", func(t *testing.T, e *env) {
		b := openDriver(t, e)
		key := e.prefix + "absent-" + randomHex(4) + ".json"
		_, err := b.Get(e.ctx, key)
		wantErr(t, "Get of a missing key", err, driver.ErrNotFound)
		if strings.Contains(err.Error(), key) {
			t.Fatalf("Get error %q names the key: the Store adds it, once", err)
		}
	}},
}

// openDriver opens a new driver value on the harness's namespace, closed when
// the test ends.
func openDriver(t *testing.T, e *env) driver.Bucket {
	t.Helper()
	b, err := e.h.OpenBucket(e.ctx)
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// wantObject fails the test unless key holds data at version.
func wantObject(t *testing.T, e *env, b driver.Bucket, key, data, version, when string) {
	t.Helper()
	obj, err := b.Get(e.ctx, key)
	if err != nil {
		t.Fatalf("Get %s: %v", when, err)
	}
	if string(obj.Data) != data || obj.Version != version {
		t.Fatalf("Get %s = %q at version %q, want %q at %q", when, obj.Data, obj.Version, data, version)
	}
}

// race makes racers separate driver values Put distinct bytes to key with the
// same ifVersion at once. Exactly one may win; every other must be refused
// with ErrPrecondition (or ErrConflict), and the object must hold the
// winner's bytes at the winner's version.
func race(t *testing.T, e *env, b driver.Bucket, key, ifVersion string) {
	t.Helper()
	bkts := make([]driver.Bucket, racers)
	for i := range bkts {
		bkts[i] = openDriver(t, e)
	}
	type result struct {
		i       int
		version string
		err     error
	}
	start := make(chan struct{})
	results := make(chan result, racers)
	for i, bk := range bkts {
		go func() {
			<-start
			v, err := bk.Put(e.ctx, key, []byte(fmt.Sprintf("racer %d", i)), ifVersion)
			results <- result{i, v, err}
		}()
	}
	close(start)
	winner := result{i: -1}
	wins := 0
	for range racers {
		r := <-results
		switch {
		case r.err == nil:
			wins++
			winner = r
		case errors.Is(r.err, driver.ErrPrecondition), errors.Is(r.err, driver.ErrConflict):
		default:
			t.Errorf("racer %d: got error %v, want success or one matching %v or %v",
				r.i, r.err, driver.ErrPrecondition, driver.ErrConflict)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d racing Puts succeeded, want exactly one", wins, racers)
	}
	wantObject(t, e, b, key, fmt.Sprintf("racer %d", winner.i), winner.version, "after the race")
}

// listAll lists prefix page by page until the driver returns no next token.
func listAll(t *testing.T, e *env, b driver.Bucket, prefix string) []driver.Entry {
	t.Helper()
	var all []driver.Entry
	seen := map[string]bool{}
	token := ""
	for {
		entries, next, err := b.List(e.ctx, prefix, token)
		if err != nil {
			t.Fatalf("List(%q, %q): %v", prefix, token, err)
		}
		all = append(all, entries...)
		if next == "" {
			return all
		}
		if seen[next] {
			t.Fatalf("List(%q) returned the page token %q twice", prefix, next)
		}
		seen[next] = true
		token = next
	}
}

func entryKeys(entries []driver.Entry) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return keys
}
