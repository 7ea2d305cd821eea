package azblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// wantErr fails unless err wraps want and still exposes the SDK error with
// the given code.
func wantErr(t *testing.T, what string, err, want error, code bloberror.Code) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want an error wrapping %q", what, err, want)
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v does not expose *azcore.ResponseError", what, err)
	}
	if code != "" && re.ErrorCode != string(code) {
		t.Fatalf("%s: Azure error code %q, want %q", what, re.ErrorCode, code)
	}
}

func mustGet(ctx context.Context, t *testing.T, b driver.Bucket, key string) driver.Object {
	t.Helper()
	obj, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return obj
}

// TestConditionalWrites covers every outcome of Put, Get and Delete on an
// existing container, the failed ones included.
func TestConditionalWrites(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	_, c := newContainer(ctx, t)
	b := newBucket(t, c, nil)
	const key = "group/p0.json"
	v1body := []byte(`{"counter":1}`)

	v1, err := b.Put(ctx, key, v1body, driver.CreateOnly)
	if err != nil {
		t.Fatalf("create-only on a missing blob: %v", err)
	}
	if got := mustGet(ctx, t, b, key); got.Version != v1 || !bytes.Equal(got.Data, v1body) {
		t.Fatalf("Get after create = %q %q, want %q %q", got.Data, got.Version, v1body, v1)
	}

	// The failed writes: each must be a typed error (and no panic), and the
	// blob must be left as it was.
	_, err = b.Put(ctx, key, []byte(`{"counter":99}`), driver.CreateOnly)
	wantErr(t, "create-only on an existing blob", err, driver.ErrPrecondition, bloberror.BlobAlreadyExists)

	v2body := []byte(`{"counter":2}`)
	v2, err := b.Put(ctx, key, v2body, v1)
	if err != nil {
		t.Fatalf("CAS with the current ETag: %v", err)
	}
	if v2 == v1 {
		t.Fatalf("CAS returned the old version %q", v2)
	}
	if got := mustGet(ctx, t, b, key); got.Version != v2 || !bytes.Equal(got.Data, v2body) {
		t.Fatalf("Get after CAS = %q %q, want %q %q (the version Put returned)", got.Data, got.Version, v2body, v2)
	}

	_, err = b.Put(ctx, key, []byte(`{"counter":98}`), v1)
	wantErr(t, "CAS with a stale ETag", err, driver.ErrPrecondition, bloberror.ConditionNotMet)
	_, err = b.Put(ctx, key, []byte(`{"counter":97}`), `"0x8DEADBEEF"`)
	wantErr(t, "CAS with a made-up ETag", err, driver.ErrPrecondition, bloberror.ConditionNotMet)
	if _, err := b.Put(ctx, key, []byte(`{}`), "*"); err == nil || errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf(`CAS with "*": got %v, want a plain refusal`, err)
	}
	if got := mustGet(ctx, t, b, key); got.Version != v2 || !bytes.Equal(got.Data, v2body) {
		t.Fatalf("failed writes changed the blob: %q %q, want %q %q", got.Data, got.Version, v2body, v2)
	}

	// Byte-identical rewrites still get a new ETag on Azure.
	v3, err := b.Put(ctx, key, v2body, v2)
	if err != nil || v3 == v2 {
		t.Fatalf("identical rewrite: version %q (was %q), err %v", v3, v2, err)
	}

	// CAS on a missing blob: either sentinel is allowed by the contract.
	_, err = b.Put(ctx, "group/missing.json", []byte(`{}`), v3)
	if !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("CAS on a missing blob: %v", err)
	}
	if _, err := b.Get(ctx, "group/missing.json"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("CAS on a missing blob created it, or Get failed otherwise: %v", err)
	}
	_, err = b.Get(ctx, "group/nope.json")
	wantErr(t, "Get of a missing key", err, driver.ErrNotFound, bloberror.BlobNotFound)

	// Delete is unconditional; deleting a missing blob succeeds.
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Get(ctx, key); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete of a missing blob: %v", err)
	}
	if err := b.Delete(ctx, "group/never-written.json"); err != nil {
		t.Fatalf("Delete of a blob that never existed: %v", err)
	}
	// Unconditional delete of an existing blob, then create-only again.
	if _, err := b.Put(ctx, key, v1body, driver.CreateOnly); err != nil {
		t.Fatalf("create-only after delete: %v", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete after create-only: %v", err)
	}
	if _, err := b.Get(ctx, key); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get after the second Delete: %v", err)
	}
}

// TestMissingContainer: every operation on a container that does not exist
// reports ErrBucketNotFound, never ErrNotFound, and writes create nothing.
func TestMissingContainer(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	cs := azurite(t)
	b := newBucket(t, newClient(t, cs, containerName(t), nil), nil)

	_, err := b.Put(ctx, "p0.json", []byte(`{}`), driver.CreateOnly)
	wantErr(t, "create-only Put", err, driver.ErrBucketNotFound, bloberror.ContainerNotFound)
	_, err = b.Put(ctx, "p0.json", []byte(`{}`), `"0x8D000000000"`)
	wantErr(t, "CAS Put", err, driver.ErrBucketNotFound, bloberror.ContainerNotFound)
	_, err = b.Get(ctx, "p0.json")
	wantErr(t, "Get", err, driver.ErrBucketNotFound, bloberror.ContainerNotFound)
	_, _, err = b.List(ctx, "", "")
	wantErr(t, "List", err, driver.ErrBucketNotFound, bloberror.ContainerNotFound)
	err = b.Delete(ctx, "p0.json")
	wantErr(t, "Delete", err, driver.ErrBucketNotFound, bloberror.ContainerNotFound)
}

// TestWrongKey: a bad account key is a permission problem on every
// operation, never "not found".
func TestWrongKey(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	cs, good := newContainer(ctx, t)
	ok := newBucket(t, good, nil)
	v, err := ok.Put(ctx, "p0.json", []byte(`{"counter":1}`), driver.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}

	account := connField(cs, "AccountName")
	if account == "" {
		t.Fatalf("connection string lacks AccountName")
	}
	cred, err := container.NewSharedKeyCredential(account, "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRpZGVtYXJrIHRlc3Rz")
	if err != nil {
		t.Fatal(err)
	}
	// The same container as good, through a client with the wrong key.
	bad, err := container.NewClientWithSharedKeyCredential(good.URL(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket(t, bad, nil)

	_, err = b.Put(ctx, "p1.json", []byte(`{}`), driver.CreateOnly)
	wantErr(t, "create-only Put", err, driver.ErrPermission, "")
	_, err = b.Put(ctx, "p0.json", []byte(`{}`), v)
	wantErr(t, "CAS Put", err, driver.ErrPermission, "")
	_, err = b.Get(ctx, "p0.json")
	wantErr(t, "Get", err, driver.ErrPermission, "")
	_, err = b.Get(ctx, "missing.json")
	wantErr(t, "Get of a missing key", err, driver.ErrPermission, "")
	_, _, err = b.List(ctx, "", "")
	wantErr(t, "List", err, driver.ErrPermission, "")
	err = b.Delete(ctx, "p0.json")
	wantErr(t, "Delete", err, driver.ErrPermission, "")
	var re *azcore.ResponseError
	errors.As(err, &re)
	t.Logf("wrong key: HTTP %d %s", re.StatusCode, re.ErrorCode)

	if got := mustGet(ctx, t, ok, "p0.json"); got.Version != v {
		t.Fatalf("refused writes changed the blob")
	}
}

// TestUnreachable: a closed port and a server that never answers both fail
// within a bounded time, with an error that is none of the sentinels (the
// outcome of a write there is unknown, not lost).
//
// It needs no emulator.
func TestUnreachable(t *testing.T) {
	const account = "devstoreaccount1"
	cred, err := container.NewSharedKeyCredential(account, "dW5yZWFjaGFibGUgZW5kcG9pbnQ=")
	if err != nil {
		t.Fatal(err)
	}

	// A port nobody listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	// A server that accepts connections and never answers.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	conns.Go(func() {
		var open []net.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			open = append(open, c)
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	})
	t.Cleanup(func() { hung.Close(); conns.Wait() })

	for _, tc := range []struct {
		name  string
		addr  string
		opts  *Options
		bound time.Duration
	}{
		{"closed-port", closedAddr, nil, 15 * time.Second},
		{"no-answer", hung.Addr().String(), &Options{TryTimeout: time.Second, MaxRetries: 1}, 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			c, err := container.NewClientWithSharedKeyCredential("http://"+tc.addr+"/"+account+"/c", cred, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := newBucket(t, c, tc.opts)
			ops := map[string]func() error{
				"create-only Put": func() error { _, err := b.Put(ctx, "p0.json", []byte(`{}`), driver.CreateOnly); return err },
				"CAS Put":         func() error { _, err := b.Put(ctx, "p0.json", []byte(`{}`), `"0x1"`); return err },
				"Get":             func() error { _, err := b.Get(ctx, "p0.json"); return err },
				"List":            func() error { _, _, err := b.List(ctx, "", ""); return err },
				"Delete":          func() error { return b.Delete(ctx, "p0.json") },
			}
			for _, name := range slices.Sorted(maps.Keys(ops)) {
				start := time.Now()
				err := ops[name]()
				took := time.Since(start)
				t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
				if err == nil {
					t.Fatalf("%s succeeded against %s", name, tc.addr)
				}
				for _, s := range []error{driver.ErrPrecondition, driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPermission, driver.ErrConflict} {
					if errors.Is(err, s) {
						t.Fatalf("%s: unreachable endpoint reported as %q", name, s)
					}
				}
				if took > tc.bound {
					t.Fatalf("%s took %v, want under %v", name, took, tc.bound)
				}
			}
		})
	}
}

// TestRacingWriters: 16 writers, each with its own client and driver value
// (as 16 hosts would have), write from the same condition; exactly one wins
// and the others get ErrPrecondition. Run for create-only and for CAS.
func TestRacingWriters(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	cs, c := newContainer(ctx, t)
	name := containerNameOf(c)
	const writers = 16
	buckets := make([]*bucket, writers)
	for i := range buckets {
		// The race is the point, not the timeout: Azurite answers 16
		// writers one at a time, slowly on a busy machine (make stress).
		buckets[i] = newBucket(t, newClient(t, cs, name, nil), &Options{TryTimeout: time.Minute})
	}

	race := func(key, ifVersion string) (winner int, version string) {
		t.Helper()
		type result struct {
			i       int
			version string
			err     error
		}
		results := make(chan result, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, b := range buckets {
			wg.Go(func() {
				<-start
				v, err := b.Put(ctx, key, fmt.Appendf(nil, `{"writer":%d}`, i), ifVersion)
				results <- result{i, v, err}
			})
		}
		close(start)
		wg.Wait()
		close(results)
		winner = -1
		for r := range results {
			switch {
			case r.err == nil && winner >= 0:
				t.Fatalf("two winners: writers %d and %d", winner, r.i)
			case r.err == nil:
				winner, version = r.i, r.version
			case !errors.Is(r.err, driver.ErrPrecondition):
				t.Fatalf("writer %d: %v, want ErrPrecondition", r.i, r.err)
			}
		}
		if winner < 0 {
			t.Fatal("no winner")
		}
		got := mustGet(ctx, t, buckets[0], key)
		if want := fmt.Sprintf(`{"writer":%d}`, winner); string(got.Data) != want || got.Version != version {
			t.Fatalf("stored %s %s, want the winner's %s %s", got.Data, got.Version, want, version)
		}
		return winner, version
	}

	for round := range 5 {
		key := fmt.Sprintf("race/%d.json", round)
		w, v := race(key, driver.CreateOnly)
		t.Logf("round %d: create-only won by %d", round, w)
		for cas := range 3 {
			w, v = race(key, v)
			t.Logf("round %d: CAS %d won by %d", round, cas, w)
		}
	}
}

func containerNameOf(c *container.Client) string {
	u, _ := url.Parse(c.URL())
	return path.Base(u.Path)
}

// TestListPaging: more keys than a page, under a prefix with other keys
// around it, come back complete, in order, across pages.
func TestListPaging(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	_, c := newContainer(ctx, t)
	const pageSize = 4
	b := newBucket(t, c, &Options{PageSize: pageSize})

	var want []string
	for i := range 23 {
		k := fmt.Sprintf("grp/stream/p%02d.json", i)
		want = append(want, k)
	}
	others := []string{"grp/other/p00.json", "grp/strea.json", "grp/streamx/p00.json", "zzz.json", "a.json"}
	versions := map[string]string{}
	for _, k := range append(slices.Clone(want), others...) {
		v, err := b.Put(ctx, k, []byte(`{}`), driver.CreateOnly)
		if err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		versions[k] = v
	}
	// "grp/stream/" must not match "grp/streamx/".
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"grp/stream/", want},
		{"", slices.Sorted(slices.Values(append(slices.Clone(want), others...)))},
		{"nothing/", nil},
	} {
		var got []string
		pages := 0
		token := ""
		for {
			entries, next, err := b.List(ctx, tc.prefix, token)
			if err != nil {
				t.Fatalf("List(%q, %q): %v", tc.prefix, token, err)
			}
			pages++
			if len(entries) > pageSize {
				t.Fatalf("page of %d keys, page size %d", len(entries), pageSize)
			}
			for _, e := range entries {
				if e.Version != versions[e.Key] {
					t.Fatalf("List(%q): %q has version %q, Put returned %q", tc.prefix, e.Key, e.Version, versions[e.Key])
				}
				got = append(got, e.Key)
			}
			if next == "" {
				break
			}
			if pages > 100 {
				t.Fatal("List does not terminate")
			}
			token = next
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		if min := (len(tc.want) + pageSize - 1) / pageSize; pages < min {
			t.Fatalf("List(%q) took %d pages, want at least %d", tc.prefix, pages, min)
		}
		t.Logf("List(%q): %d keys in %d pages", tc.prefix, len(got), pages)
	}
}

// TestRequestsPerOperation counts HTTP requests: every operation is one
// request, failed conditional writes included (no retry, no read-back).
func TestRequestsPerOperation(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	cs, c := newContainer(ctx, t)
	var n counter
	b := newBucket(t, newClient(t, cs, containerNameOf(c), &n), nil)

	countN := func(what string, want int64, op func() error, wantErr error) {
		t.Helper()
		before := n.n.Load()
		err := op()
		if (wantErr == nil && err != nil) || (wantErr != nil && !errors.Is(err, wantErr)) {
			t.Fatalf("%s: %v, want %v", what, err, wantErr)
		}
		if got := n.n.Load() - before; got != want {
			t.Fatalf("%s: %d requests, want %d", what, got, want)
		}
	}
	count := func(what string, op func() error, wantErr error) {
		t.Helper()
		countN(what, 1, op, wantErr)
	}
	var v string
	count("create-only Put", func() (err error) { v, err = b.Put(ctx, "p.json", []byte(`{"c":1}`), driver.CreateOnly); return }, nil)
	count("losing create-only Put", func() error { _, err := b.Put(ctx, "p.json", []byte(`{}`), driver.CreateOnly); return err }, driver.ErrPrecondition)
	old := v
	count("CAS Put", func() (err error) { v, err = b.Put(ctx, "p.json", []byte(`{"c":2}`), v); return }, nil)
	count("losing CAS Put", func() error { _, err := b.Put(ctx, "p.json", []byte(`{}`), old); return err }, driver.ErrPrecondition)
	count("Get", func() error { _, err := b.Get(ctx, "p.json"); return err }, nil)
	count("Get missing", func() error { _, err := b.Get(ctx, "q.json"); return err }, driver.ErrNotFound)
	count("List", func() error {
		// The listing carries the version: no request per key.
		entries, _, err := b.List(ctx, "", "")
		if err == nil && (len(entries) != 1 || entries[0].Version != v) {
			t.Errorf("List = %+v, want p.json at version %q", entries, v)
		}
		return err
	}, nil)
	count("Delete", func() error { return b.Delete(ctx, "p.json") }, nil)
	count("Delete missing", func() error { return b.Delete(ctx, "p.json") }, nil)
}

// TestURLOpener opens the driver through blobstore's registry path with the
// environment gocloud's azureblob reads, and checks the URLs it refuses.
func TestURLOpener(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	if !slices.Contains(blobstore.Schemes(), Scheme) {
		t.Fatalf("scheme %q not registered: %v", Scheme, blobstore.Schemes())
	}
	cs, c := newContainer(ctx, t)
	// gocloud reads the environment once per process, on its first open.
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", cs)
	name := containerNameOf(c)

	for _, bad := range []string{
		"azblob://" + name + "?key=x",
		"azblob://" + name + "?prefix=x/",
		"azblob://" + name + "?nonsense=1",
		"azblob://" + name + "/some/path",
		"azblob:///",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := new(URLOpener).OpenBucketURL(ctx, u); err == nil {
			b.Close()
			t.Errorf("OpenBucketURL(%q) succeeded, want an error", bad)
		}
	}

	u, _ := url.Parse("azblob://" + name)
	b, err := new(URLOpener).OpenBucketURL(ctx, u)
	if err != nil {
		t.Fatalf("OpenBucketURL(%q): %v", u, err)
	}
	v, err := b.Put(ctx, "via-url.json", []byte(`{"ok":true}`), driver.CreateOnly)
	if err != nil {
		t.Fatalf("Put through the URL-opened bucket: %v", err)
	}
	direct := newBucket(t, c, nil)
	if got := mustGet(ctx, t, direct, "via-url.json"); got.Version != v {
		t.Fatalf("version %q, want %q", got.Version, v)
	}
	var client *container.Client
	aser, ok := b.(driver.Aser)
	if !ok {
		t.Fatal("the URL-opened bucket does not implement driver.Aser")
	}
	if !aser.As(&client) || client == nil {
		t.Fatal("As(**container.Client) = false")
	}
	if got := containerNameOf(client); got != name {
		t.Fatalf("As gave a client for container %q, want %q", got, name)
	}
	var other *azcore.ResponseError
	if aser.As(&other) || aser.As(client) || aser.As(nil) {
		t.Fatal("As accepted a target other than **container.Client")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := b.Get(ctx, "via-url.json"); err == nil {
		t.Fatal("Get after Close succeeded")
	}
}

func TestOpenBucketOptions(t *testing.T) {
	c, err := container.NewClientWithNoCredential("http://127.0.0.1:1/acct/c", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Options{{TryTimeout: -1}, {PageSize: -1}, {PageSize: 5001}} {
		if _, err := OpenBucket(context.Background(), c, o); err == nil {
			t.Errorf("OpenBucket(%+v) succeeded", *o)
		}
	}
	if _, err := OpenBucket(context.Background(), nil, nil); err == nil {
		t.Error("OpenBucket(nil client) succeeded")
	}
	if _, err := OpenBucket(context.Background(), c, nil); err != nil {
		t.Errorf("OpenBucket(nil options): %v", err)
	}
}

// TestListVersions: a listing gives each blob the version Put returned for
// its bytes and Get returns for them, in the same (quoted) form, on pages of
// 1, 2 and 3 keys; a listed version is good for a compare-and-swap.
func TestListVersions(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	_, c := newContainer(ctx, t)
	w := newBucket(t, c, nil)

	want := map[string]string{} // key -> version Put returned last
	var keys []string
	for i := range 7 {
		k := fmt.Sprintf("v/p%d.json", i)
		v, err := w.Put(ctx, k, fmt.Appendf(nil, `{"p":%d,"n":0}`, i), driver.CreateOnly)
		if err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		want[k] = v
		keys = append(keys, k)
	}
	// Rewrite some, so a listing must show the newest version, not the
	// first one; delete one, so it must not show at all.
	for _, i := range []int{1, 4, 6} {
		k := keys[i]
		v, err := w.Put(ctx, k, fmt.Appendf(nil, `{"p":%d,"n":1}`, i), want[k])
		if err != nil {
			t.Fatalf("CAS Put(%q): %v", k, err)
		}
		if v == want[k] {
			t.Fatalf("CAS Put(%q) returned the old version %q", k, v)
		}
		want[k] = v
	}
	if err := w.Delete(ctx, keys[3]); err != nil {
		t.Fatal(err)
	}
	delete(want, keys[3])
	keys = slices.Delete(keys, 3, 4)
	// A key outside the prefix stays out of the listing.
	if _, err := w.Put(ctx, "vx.json", []byte(`{}`), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got := mustGet(ctx, t, w, k); got.Version != want[k] {
			t.Fatalf("Get(%q) version %q, Put returned %q", k, got.Version, want[k])
		}
	}

	// What List Blobs itself says, before the driver normalises it.
	raw, err := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to(keys[0])}).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(raw.Segment.BlobItems); n != 1 {
		t.Fatalf("raw List Blobs: %d items, want 1", n)
	}
	rawETag := string(*raw.Segment.BlobItems[0].Properties.ETag)
	t.Logf("List Blobs ETag %s; Put/Get ETag %s", rawETag, want[keys[0]])
	if headerETag(azcore.ETag(rawETag)) != want[keys[0]] {
		t.Fatalf("List Blobs ETag %s does not normalise to Put's %s", rawETag, want[keys[0]])
	}

	for _, pageSize := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("page-%d", pageSize), func(t *testing.T) {
			b := newBucket(t, c, &Options{PageSize: pageSize})
			var got []string
			pages := 0
			for token := ""; ; {
				entries, next, err := b.List(ctx, "v/", token)
				if err != nil {
					t.Fatalf("List page %d: %v", pages+1, err)
				}
				pages++
				if len(entries) > pageSize {
					t.Fatalf("page %d has %d entries, page size %d", pages, len(entries), pageSize)
				}
				for _, e := range entries {
					got = append(got, e.Key)
					if e.Version != want[e.Key] {
						t.Errorf("listed %q at version %q, Put returned %q", e.Key, e.Version, want[e.Key])
					}
					if obj := mustGet(ctx, t, b, e.Key); obj.Version != e.Version {
						t.Errorf("listed %q at version %q, Get returns %q", e.Key, e.Version, obj.Version)
					}
				}
				if next == "" {
					break
				}
				if pages > 50 {
					t.Fatal("List does not terminate")
				}
				token = next
			}
			if !slices.Equal(got, keys) {
				t.Fatalf("listed %q, want %q", got, keys)
			}
			if min := (len(keys) + pageSize - 1) / pageSize; pages < min {
				t.Fatalf("%d pages of at most %d keys for %d keys", pages, pageSize, len(keys))
			}
			t.Logf("%d keys in %d pages", len(got), pages)
		})
	}

	// A listed version is the blob's version: compare-and-swap accepts it.
	entries, _, err := w.List(ctx, keys[0], "")
	if err != nil || len(entries) != 1 {
		t.Fatalf("List(%q) = %+v, %v", keys[0], entries, err)
	}
	v, err := w.Put(ctx, keys[0], []byte(`{"p":0,"n":2}`), entries[0].Version)
	if err != nil {
		t.Fatalf("CAS on the listed version %q: %v", entries[0].Version, err)
	}
	if _, err := w.Put(ctx, keys[0], []byte(`{"p":0,"n":3}`), entries[0].Version); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("CAS on the listed version after it changed: %v, want ErrPrecondition", err)
	}
	if got := mustGet(ctx, t, w, keys[0]); got.Version != v {
		t.Fatalf("Get version %q, want %q", got.Version, v)
	}
}

// TestHeaderETag: List Blobs' unquoted ETags get the quotes the ETag header
// has; quoted ones are kept. It needs no emulator.
func TestHeaderETag(t *testing.T) {
	for in, want := range map[string]string{
		`0x8DC5E2B9A3F4C21`:     `"0x8DC5E2B9A3F4C21"`,
		`"0x8DC5E2B9A3F4C21"`:   `"0x8DC5E2B9A3F4C21"`,
		`W/"0x8DC5E2B9A3F4C21"`: `W/"0x8DC5E2B9A3F4C21"`,
	} {
		if got := headerETag(azcore.ETag(in)); got != want {
			t.Errorf("headerETag(%s) = %s, want %s", in, got, want)
		}
	}
}
