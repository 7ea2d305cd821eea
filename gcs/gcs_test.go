package gcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// sentinels are the driver's error vocabulary, for "is none of them" checks.
var sentinels = []error{driver.ErrNotFound, driver.ErrPrecondition, driver.ErrBucketNotFound, driver.ErrPermission,
	driver.ErrConflict, driver.ErrRetriedPrecondition, driver.ErrInvalidArgument}

// openTestBucket opens the driver on a fresh emulator bucket of the test's own.
func openTestBucket(ctx context.Context, t *testing.T, opts *Options) (driver.Bucket, *gcstorage.Client, string) {
	t.Helper()
	c := emulatorClient(t)
	name := newBucket(ctx, t, c)
	b, err := OpenBucket(ctx, c, name, opts)
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, c, name
}

func mustPut(ctx context.Context, t *testing.T, b driver.Bucket, key string, data []byte, ifVersion string) string {
	t.Helper()
	v, err := b.Put(ctx, key, data, ifVersion)
	if err != nil {
		t.Fatalf("Put(%q, ifVersion=%q): %v", key, ifVersion, err)
	}
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		t.Fatalf("Put(%q) returned version %q, want a decimal generation", key, v)
	}
	return v
}

func mustGet(ctx context.Context, t *testing.T, b driver.Bucket, key string) driver.Object {
	t.Helper()
	o, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return o
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
	if testing.Verbose() {
		t.Logf("%s: %v", what, err)
	}
}

// atMostOnce fails t when a driver error's message names s (the key) more
// than once. The driver itself never names the key (the Store does); the
// storage client's own words may, as in a transport error's URL.
func atMostOnce(t *testing.T, what string, err error, s string) {
	t.Helper()
	if err == nil {
		return
	}
	if n := strings.Count(err.Error(), s); n > 1 {
		t.Errorf("%s: message %q names %q %d times, want at most once", what, err, s, n)
	}
}

func TestCreateOnly(t *testing.T) {
	ctx := testCtx(t)
	b, c, name := openTestBucket(ctx, t, nil)
	const key = "group/0.json"

	v1 := mustPut(ctx, t, b, key, []byte(`{"n":1}`), driver.CreateOnly)
	_, err := b.Put(ctx, key, []byte(`{"n":2}`), driver.CreateOnly)
	wantIs(t, "second create-only Put", err, driver.ErrPrecondition)

	// The SDK error stays reachable, and the message is the sentinel and
	// the SDK's words: the Store, not the driver, names the key.
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusPreconditionFailed {
		t.Errorf("second create: errors.As *googleapi.Error = %v (%v), want code 412", gerr, err)
	}
	if want := driver.ErrPrecondition.Error() + ": " + gerr.Error(); err.Error() != want {
		t.Errorf("second create: message %q, want %q", err, want)
	}
	atMostOnce(t, "second create", err, key)

	got := mustGet(ctx, t, b, key)
	if string(got.Data) != `{"n":1}` || got.Version != v1 {
		t.Fatalf("after refused create: Get = (%s, %s), want ({\"n\":1}, %s)", got.Data, got.Version, v1)
	}
	// The version is the generation, not the ETag.
	attrs, err := c.Bucket(name).Object(key).Attrs(ctx)
	if err != nil {
		t.Fatalf("Attrs: %v", err)
	}
	if strconv.FormatInt(attrs.Generation, 10) != v1 {
		t.Fatalf("version %s is not the object's generation %d", v1, attrs.Generation)
	}
}

func TestCompareAndSwap(t *testing.T) {
	ctx := testCtx(t)
	b, _, _ := openTestBucket(ctx, t, nil)
	const key = "group/1.json"

	v1 := mustPut(ctx, t, b, key, []byte(`{"n":1}`), driver.CreateOnly)
	v2 := mustPut(ctx, t, b, key, []byte(`{"n":2}`), v1)
	if v2 == v1 {
		t.Fatalf("CAS returned the old version %s", v1)
	}
	got := mustGet(ctx, t, b, key)
	if got.Version != v2 || string(got.Data) != `{"n":2}` {
		t.Fatalf("Get after CAS = (%s, %s), want ({\"n\":2}, %s)", got.Data, got.Version, v2)
	}

	// A stale generation is refused and changes nothing.
	_, err := b.Put(ctx, key, []byte(`{"n":3}`), v1)
	wantIs(t, "CAS with stale version", err, driver.ErrPrecondition)
	got = mustGet(ctx, t, b, key)
	if got.Version != v2 || string(got.Data) != `{"n":2}` {
		t.Fatalf("stale CAS changed the object: Get = (%s, %s), want ({\"n\":2}, %s)", got.Data, got.Version, v2)
	}

	// Tokens that cannot be a generation are refused before any request.
	for _, bad := range []string{"abc", "-1", "0", `"etag"`} {
		_, err := b.Put(ctx, key, []byte(`{"n":4}`), bad)
		wantIs(t, fmt.Sprintf("CAS with version %q", bad), err, driver.ErrPrecondition)
	}

	// CAS on a missing object: the contract allows ErrPrecondition or ErrNotFound.
	_, err = b.Put(ctx, "group/missing.json", []byte(`{}`), v2)
	if !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("CAS on a missing object: %v, want ErrPrecondition or ErrNotFound", err)
	}
	t.Logf("CAS on a missing object: %v", err)
	if _, err := b.Get(ctx, "group/missing.json"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("refused CAS created the object: Get = %v", err)
	}
}

func TestGetMissingObject(t *testing.T) {
	ctx := testCtx(t)
	b, _, _ := openTestBucket(ctx, t, nil)
	_, err := b.Get(ctx, "nope.json")
	wantIs(t, "Get of a missing key", err, driver.ErrNotFound)
	if errors.Is(err, driver.ErrBucketNotFound) || errors.Is(err, driver.ErrPermission) {
		t.Fatalf("Get of a missing key in an existing bucket: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	ctx := testCtx(t)
	c := emulatorClient(t)
	name := uniqueBucketName(t) // never created
	b, err := OpenBucket(ctx, c, name, nil)
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	defer b.Close()

	_, err = b.Get(ctx, "k.json")
	wantIs(t, "Get", err, driver.ErrBucketNotFound)
	atMostOnce(t, "Get", err, "k.json")
	_, err = b.Put(ctx, "k.json", []byte(`{}`), driver.CreateOnly)
	wantIs(t, "Put create-only", err, driver.ErrBucketNotFound)
	atMostOnce(t, "Put create-only", err, "k.json")
	_, err = b.Put(ctx, "k.json", []byte(`{}`), "1234")
	wantIs(t, "Put compare-and-swap", err, driver.ErrBucketNotFound)
	_, _, err = b.List(ctx, "", "")
	wantIs(t, "List", err, driver.ErrBucketNotFound)
	err = b.Delete(ctx, "k.json")
	wantIs(t, "Delete", err, driver.ErrBucketNotFound)
	atMostOnce(t, "Delete", err, "k.json")

	// Through a Store the message names the operation and the key once.
	s, err := blobstore.New(b, &blobstore.Options{Prefix: "tm"})
	if err != nil {
		t.Fatal(err)
	}
	const id = "part-q7z"
	_, _, err = s.GetLease(ctx, id)
	if !errors.Is(err, blobstore.ErrStoreNotFound) {
		t.Fatalf("Store.GetLease on a missing bucket: %v, want ErrStoreNotFound", err)
	}
	storeMessageNamesKeyOnce(t, err, "get", "tm/"+id+".json")
}

// unreachableBucket opens the driver on a client whose endpoint is addr.
func unreachableBucket(ctx context.Context, t *testing.T, addr string, opts *Options) driver.Bucket {
	t.Helper()
	c, err := gcstorage.NewClient(ctx,
		option.WithEndpoint("http://"+addr+"/storage/v1/"),
		option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	b, err := OpenBucket(ctx, c, "unreachable", opts)
	if err != nil {
		t.Fatalf("OpenBucket: %v", err)
	}
	return b
}

// checkBoundedFailure runs every operation on b and wants each to fail,
// with no sentinel (the outcome is unknown), within limit.
func checkBoundedFailure(ctx context.Context, t *testing.T, b driver.Bucket, limit time.Duration) {
	t.Helper()
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, "k.json"); return err }},
		{"Put create-only", func() error { _, err := b.Put(ctx, "k.json", []byte(`{}`), driver.CreateOnly); return err }},
		{"Put CAS", func() error { _, err := b.Put(ctx, "k.json", []byte(`{}`), "42"); return err }},
		{"List", func() error { _, _, err := b.List(ctx, "", ""); return err }},
		{"Delete", func() error { return b.Delete(ctx, "k.json") }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.fn()
		took := time.Since(start)
		t.Logf("%s: %v after %v", op.name, err, took.Round(time.Millisecond))
		if err == nil {
			t.Errorf("%s succeeded against an unreachable endpoint", op.name)
			continue
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Errorf("%s: error %v wraps %v; an unreachable endpoint must read as an unknown outcome", op.name, err, s)
			}
		}
		if took > limit {
			t.Errorf("%s took %v to fail, want at most %v", op.name, took, limit)
		}
		// No driver wrapping: the SDK's error (whose URL may hold the key).
		atMostOnce(t, op.name, err, "k.json")
	}
}

// TestUnreachableEndpoint needs no emulator: it talks to a closed port.
func TestUnreachableEndpoint(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connection refused from now on
	checkBoundedFailure(ctx, t, unreachableBucket(ctx, t, addr, nil), 15*time.Second)
}

// TestHangingEndpoint covers an endpoint that accepts connections and never
// answers: only Options.RequestTimeout ends the wait.
func TestHangingEndpoint(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	b := unreachableBucket(ctx, t, l.Addr().String(), &Options{RequestTimeout: time.Second})
	checkBoundedFailure(ctx, t, b, 5*time.Second)
}

// TestRacingCompareAndSwap: 16 writers, each with its own client and driver
// value, race a CAS from the same generation; exactly one wins.
func TestRacingCompareAndSwap(t *testing.T) {
	ctx := testCtx(t)
	c := emulatorClient(t)
	name := newBucket(ctx, t, c)
	const writers = 16
	buckets := make([]driver.Bucket, writers)
	for i := range buckets {
		b, err := OpenBucket(ctx, emulatorClient(t), name, nil)
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		buckets[i] = b
	}

	for round := range 3 {
		key := fmt.Sprintf("race/%d.json", round)
		// Round 0 races creators; the others race a CAS from one generation.
		from := driver.CreateOnly
		if round > 0 {
			from = mustPut(ctx, t, buckets[0], key, []byte(`{"writer":-1}`), driver.CreateOnly)
		}
		type result struct {
			writer  int
			version string
			err     error
		}
		results := make(chan result, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, b := range buckets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := b.Put(ctx, key, fmt.Appendf(nil, `{"writer":%d}`, i), from)
				results <- result{i, v, err}
			}()
		}
		close(start)
		wg.Wait()
		close(results)

		var winners []result
		for r := range results {
			switch {
			case r.err == nil:
				winners = append(winners, r)
			case errors.Is(r.err, driver.ErrPrecondition):
			default:
				t.Errorf("round %d: writer %d: unexpected error %v", round, r.writer, r.err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d (from %q): %d winners %v, want exactly 1", round, from, len(winners), winners)
		}
		got := mustGet(ctx, t, buckets[0], key)
		want := fmt.Sprintf(`{"writer":%d}`, winners[0].writer)
		if string(got.Data) != want || got.Version != winners[0].version {
			t.Fatalf("round %d: stored (%s, %s), want the winner's (%s, %s)", round, got.Data, got.Version, want, winners[0].version)
		}
	}
}

func TestListPaging(t *testing.T) {
	ctx := testCtx(t)
	const pageSize = 3
	b, _, _ := openTestBucket(ctx, t, &Options{PageSize: pageSize})

	var want []string
	for i := range 10 {
		k := fmt.Sprintf("orders/%02d.json", i)
		want = append(want, k)
		mustPut(ctx, t, b, k, []byte(`{}`), driver.CreateOnly)
	}
	// Keys outside the prefix, before and after it.
	mustPut(ctx, t, b, "aaa.json", []byte(`{}`), driver.CreateOnly)
	mustPut(ctx, t, b, "orders-other/0.json", []byte(`{}`), driver.CreateOnly)

	var got []string
	token, pages := "", 0
	for {
		entries, next, err := b.List(ctx, "orders/", token)
		if err != nil {
			t.Fatalf("List page %d: %v", pages, err)
		}
		pages++
		if len(entries) > pageSize {
			t.Fatalf("page %d has %d keys, page size is %d", pages, len(entries), pageSize)
		}
		for _, e := range entries {
			got = append(got, e.Key)
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("List does not end: %d pages so far", pages)
		}
		token = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if pages < 4 {
		t.Fatalf("listed %d keys in %d pages of at most %d", len(got), pages, pageSize)
	}

	entries, next, err := b.List(ctx, "nothing-here/", "")
	if err != nil || len(entries) != 0 || next != "" {
		t.Fatalf("List of an empty prefix = (%v, %q, %v), want nothing", entries, next, err)
	}
}

// listRecorder records the objects.list requests a storage client sends.
type listRecorder struct {
	base  http.RoundTripper
	mu    sync.Mutex
	lists []*url.URL
	all   int
}

func (l *listRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.all++
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/o") {
		l.lists = append(l.lists, r.URL)
	}
	l.mu.Unlock()
	return l.base.RoundTrip(r)
}

// take returns the listing requests and the number of all requests sent
// since the last call, and forgets them.
func (l *listRecorder) take() (lists []*url.URL, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lists, all = l.lists, l.all
	l.lists, l.all = nil, 0
	return lists, all
}

// TestListVersions: the version List gives each key is the one Put returned
// for its current bytes and the one Get returns, on every page of a listing,
// and each page is one request that asks for the generation.
func TestListVersions(t *testing.T) {
	ctx := testCtx(t)
	rec := &listRecorder{base: http.DefaultTransport}
	c := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: rec}))
	name := newBucket(ctx, t, c)
	w, err := OpenBucket(ctx, c, name, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Seven keys: some only created, some rewritten once or twice, so that
	// the listed generation must be the latest, not the first.
	const n = 7
	want := map[string]string{} // key -> the version Put returned last
	var keys []string
	for i := range n {
		k := fmt.Sprintf("v/%02d.json", i)
		keys = append(keys, k)
		v := mustPut(ctx, t, w, k, fmt.Appendf(nil, `{"n":%d,"w":0}`, i), driver.CreateOnly)
		for j := range i % 3 {
			v2 := mustPut(ctx, t, w, k, fmt.Appendf(nil, `{"n":%d,"w":%d}`, i, j+1), v)
			if v2 == v {
				t.Fatalf("%s: CAS returned the old version %s", k, v)
			}
			v = v2
		}
		want[k] = v
	}
	// Outside the prefix, and a deleted key inside it: neither is listed.
	mustPut(ctx, t, w, "u.json", []byte(`{}`), driver.CreateOnly)
	mustPut(ctx, t, w, "v-other/0.json", []byte(`{}`), driver.CreateOnly)
	mustPut(ctx, t, w, "v/gone.json", []byte(`{}`), driver.CreateOnly)
	if err := w.Delete(ctx, "v/gone.json"); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got := mustGet(ctx, t, w, k); got.Version != want[k] {
			t.Fatalf("Get(%s) version %s, want the one Put returned, %s", k, got.Version, want[k])
		}
	}

	for _, pageSize := range []int{1, 2, 3, DefaultPageSize} {
		t.Run(fmt.Sprintf("page-size-%d", pageSize), func(t *testing.T) {
			b, err := OpenBucket(ctx, c, name, &Options{PageSize: pageSize})
			if err != nil {
				t.Fatal(err)
			}
			rec.take()
			var got []driver.Entry
			token, pages := "", 0
			for {
				entries, next, err := b.List(ctx, "v/", token)
				if err != nil {
					t.Fatalf("List page %d: %v", pages+1, err)
				}
				pages++
				lists, all := rec.take()
				if all != 1 || len(lists) != 1 {
					t.Fatalf("page %d: %d requests (%d listings), want one listing request", pages, all, len(lists))
				}
				fields := lists[0].Query().Get("fields")
				if !strings.Contains(fields, "generation") || !strings.Contains(fields, "name") {
					t.Errorf("page %d: listing asks for fields=%q, want name and generation", pages, fields)
				}
				if mr := lists[0].Query().Get("maxResults"); mr != strconv.Itoa(pageSize) {
					t.Errorf("page %d: maxResults=%q, want %d", pages, mr, pageSize)
				}
				if len(entries) > pageSize {
					t.Fatalf("page %d has %d entries, page size is %d", pages, len(entries), pageSize)
				}
				got = append(got, entries...)
				if next == "" {
					break
				}
				if pages > 2*n {
					t.Fatalf("List does not end: %d pages so far", pages)
				}
				token = next
			}
			if least := (n + pageSize - 1) / pageSize; pages < least {
				t.Errorf("listed %d keys in %d pages of at most %d", len(got), pages, pageSize)
			}
			if len(got) != n {
				t.Fatalf("listed %v, want the %d keys %v", got, n, keys)
			}
			for i, e := range got {
				if e.Key != keys[i] {
					t.Fatalf("entry %d is %q, want %q (lexical order): %v", i, e.Key, keys[i], got)
				}
				if e.Version != want[e.Key] {
					t.Errorf("%s: listed version %q, Put returned %q", e.Key, e.Version, want[e.Key])
				}
				if o := mustGet(ctx, t, b, e.Key); o.Version != e.Version {
					t.Errorf("%s: listed version %q, Get returns %q", e.Key, e.Version, o.Version)
				}
			}
			rec.take()
			// A listed version is good for a compare-and-swap.
			k := got[0].Key
			v := mustPut(ctx, t, b, k, fmt.Appendf(nil, `{"page-size":%d}`, pageSize), got[0].Version)
			want[k] = v
			entries, _, err := b.List(ctx, k, "")
			if err != nil || len(entries) != 1 || entries[0].Key != k || entries[0].Version != v || entries[0].Modified.IsZero() {
				t.Fatalf("List(%s) after a CAS = (%v, %v), want [{%s %s <the update time>}]", k, entries, err, k, v)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	ctx := testCtx(t)
	b, _, _ := openTestBucket(ctx, t, nil)

	if err := b.Delete(ctx, "never.json"); err != nil {
		t.Fatalf("Delete of a missing object: %v, want success", err)
	}

	mustPut(ctx, t, b, "a.json", []byte(`{}`), driver.CreateOnly)
	if err := b.Delete(ctx, "a.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := b.Get(ctx, "a.json")
	wantIs(t, "Get after Delete", err, driver.ErrNotFound)
	atMostOnce(t, "Get after Delete", err, "a.json")
	if err := b.Delete(ctx, "a.json"); err != nil {
		t.Fatalf("second Delete: %v, want success", err)
	}

	// Unconditional: whatever generation is current goes.
	v1 := mustPut(ctx, t, b, "c.json", []byte(`{"n":1}`), driver.CreateOnly)
	mustPut(ctx, t, b, "c.json", []byte(`{"n":2}`), v1)
	if err := b.Delete(ctx, "c.json"); err != nil {
		t.Fatalf("Delete of a rewritten object: %v", err)
	}
	_, err = b.Get(ctx, "c.json")
	wantIs(t, "Get after deleting a rewritten object", err, driver.ErrNotFound)

	// The other keys are untouched.
	mustPut(ctx, t, b, "d/1.json", []byte(`{}`), driver.CreateOnly)
	mustPut(ctx, t, b, "d/2.json", []byte(`{}`), driver.CreateOnly)
	if err := b.Delete(ctx, "d/1.json"); err != nil {
		t.Fatal(err)
	}
	entries, _, err := b.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Key != "d/2.json" {
		t.Fatalf("after the deletes List = %v, want only d/2.json", entries)
	}
}

// TestRequestsPerOperation counts HTTP requests on the wire.
func TestRequestsPerOperation(t *testing.T) {
	ctx := testCtx(t)
	ct := &countingTransport{base: http.DefaultTransport}
	c := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: ct}))
	name := newBucket(ctx, t, c)
	b, err := OpenBucket(ctx, c, name, &Options{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ct.take()

	check := func(what string, want int) {
		t.Helper()
		reqs := ct.take()
		t.Logf("%s: %d request(s) %v", what, len(reqs), reqs)
		if len(reqs) != want {
			t.Errorf("%s sent %d requests %v, want %d", what, len(reqs), reqs, want)
		}
	}
	v := mustPut(ctx, t, b, "k/1.json", []byte(`{"n":1}`), driver.CreateOnly)
	check("Put create-only", 1)
	_, err = b.Put(ctx, "k/1.json", []byte(`{"n":1}`), driver.CreateOnly)
	wantIs(t, "create again", err, driver.ErrPrecondition)
	check("refused create-only Put", 1)
	mustPut(ctx, t, b, "k/1.json", []byte(`{"n":2}`), v)
	check("Put CAS", 1)
	mustGet(ctx, t, b, "k/1.json")
	check("Get", 1)
	_, err = b.Get(ctx, "k/missing.json")
	wantIs(t, "Get missing", err, driver.ErrNotFound)
	check("Get of a missing object (read + bucket probe)", 2)
	mustPut(ctx, t, b, "k/2.json", []byte(`{}`), driver.CreateOnly)
	mustPut(ctx, t, b, "k/3.json", []byte(`{}`), driver.CreateOnly)
	ct.take()
	entries, next, err := b.List(ctx, "k/", "")
	if err != nil || len(entries) != 2 || next == "" {
		t.Fatalf("List first page = (%v, %q, %v)", entries, next, err)
	}
	check("List page (keys and generations)", 1)
	entries, next, err = b.List(ctx, "k/", next)
	if err != nil || len(entries) != 1 || next != "" {
		t.Fatalf("List last page = (%v, %q, %v)", entries, next, err)
	}
	check("last List page", 1)
	if err := b.Delete(ctx, "k/1.json"); err != nil {
		t.Fatal(err)
	}
	check("Delete", 1)
	if err := b.Delete(ctx, "k/1.json"); err != nil {
		t.Fatal(err)
	}
	check("Delete of a missing object (delete + bucket probe)", 2)
}

func TestURLOpener(t *testing.T) {
	if !slices.Contains(blobstore.Schemes(), Scheme) {
		t.Fatalf("scheme %q not registered: %v", Scheme, blobstore.Schemes())
	}
	ctx := testCtx(t)

	bad := []string{
		"gs://",
		"gs://b/some/path",
		"gs://b?grpc=true",
		"gs://b?zonal=true",
		"gs://b?private_key_path=/k.pem",
		"gs://b?access_id=someone@example.com",
		"gs://b?anonymous=maybe",
		"gs://b?universe_domain=",
		"gs://b?region=us",
	}
	for _, s := range bad {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := new(URLOpener).OpenBucketURL(ctx, u); err == nil {
			b.Close()
			t.Errorf("OpenBucketURL(%s) succeeded, want an error", s)
		} else {
			t.Logf("%s: %v", s, err)
		}
	}

	c := emulatorClient(t)
	name := newBucket(ctx, t, c)
	for _, q := range []string{"", "?anonymous=true", "?access_id=-"} {
		u, _ := url.Parse("gs://" + name + q)
		b, err := new(URLOpener).OpenBucketURL(ctx, u)
		if err != nil {
			t.Fatalf("OpenBucketURL(%s): %v", u, err)
		}
		key := "url" + strings.ReplaceAll(q, "?", "/") + ".json"
		v := mustPut(ctx, t, b, key, []byte(`{}`), driver.CreateOnly)
		if got := mustGet(ctx, t, b, key); got.Version != v {
			t.Fatalf("%s: Get version %s, want %s", u, got.Version, v)
		}
		var sc *gcstorage.Client
		if as, ok := b.(driver.Aser); !ok || !as.As(&sc) || sc == nil {
			t.Fatalf("%s: As(**storage.Client) failed", u)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestAs(t *testing.T) {
	ctx := testCtx(t)
	b, c, _ := openTestBucket(ctx, t, nil)
	as, ok := b.(driver.Aser)
	if !ok {
		t.Fatal("the bucket does not implement driver.Aser")
	}
	var sc *gcstorage.Client
	if !as.As(&sc) || sc != c {
		t.Fatal("As(**storage.Client) does not give the client")
	}
	var bh *gcstorage.BucketHandle
	if !as.As(&bh) || bh == nil {
		t.Fatal("As(**storage.BucketHandle) failed")
	}
	var s string
	if as.As(&s) {
		t.Fatal("As(*string) succeeded")
	}
}

// TestLargeObjectRoundTrip checks the single-shot upload with a body larger
// than a default read buffer.
func TestLargeObjectRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	b, _, _ := openTestBucket(ctx, t, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	v := mustPut(ctx, t, b, "big.json", data, driver.CreateOnly)
	got := mustGet(ctx, t, b, "big.json")
	if !bytes.Equal(got.Data, data) || got.Version != v {
		t.Fatalf("round trip: %d bytes version %s, want %d bytes version %s", len(got.Data), got.Version, len(data), v)
	}
}
