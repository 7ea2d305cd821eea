package s3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

var sentinels = []error{driver.ErrNotFound, driver.ErrPrecondition, driver.ErrBucketNotFound,
	driver.ErrPermission, driver.ErrConflict}

// wantErr fails unless err wraps want (nil: no sentinel at all) and, for a
// service answer, still exposes the SDK's smithy.APIError.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, want)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) { //nolint:errorlint // comparing sentinel identities
			t.Fatalf("%s: errors.Is(err, %q) = %v; err = %v", what, s, got, err)
		}
	}
	var ae smithy.APIError
	if want != nil && !errors.Is(want, driver.ErrPermission) && !errors.As(err, &ae) {
		t.Fatalf("%s: the SDK error is not reachable with errors.As: %v", what, err)
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

func TestConditionalWrites(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, time.Minute)
		b := newBucket(t, e, newTestBucket(ctx, t, e), nil, nil)
		const key = "p/0.json"

		v1, err := b.Put(ctx, key, []byte(`{"n":1}`), driver.CreateOnly)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if v1 == "" {
			t.Fatal("create returned an empty version")
		}
		_, err = b.Put(ctx, key, []byte(`{"n":"other"}`), driver.CreateOnly)
		wantErr(t, "second create", err, driver.ErrPrecondition)
		if obj := mustGet(ctx, t, b, key); string(obj.Data) != `{"n":1}` || obj.Version != v1 {
			t.Fatalf("after lost create: Get = %s %q, want {\"n\":1} %q", obj.Data, obj.Version, v1)
		}

		v2, err := b.Put(ctx, key, []byte(`{"n":2}`), v1)
		if err != nil {
			t.Fatalf("CAS with the current version: %v", err)
		}
		if v2 == v1 {
			t.Fatalf("CAS returned the old version %q", v2)
		}
		if obj := mustGet(ctx, t, b, key); string(obj.Data) != `{"n":2}` || obj.Version != v2 {
			t.Fatalf("after CAS: Get = %s %q, want {\"n\":2} %q (the version Put returned)", obj.Data, obj.Version, v2)
		}

		_, err = b.Put(ctx, key, []byte(`{"n":"stale"}`), v1)
		wantErr(t, "CAS with a stale version", err, driver.ErrPrecondition)
		if obj := mustGet(ctx, t, b, key); string(obj.Data) != `{"n":2}` || obj.Version != v2 {
			t.Fatalf("after stale CAS: Get = %s %q, want it untouched: {\"n\":2} %q", obj.Data, obj.Version, v2)
		}

		// The contract allows either answer for CAS on a missing object.
		_, err = b.Put(ctx, "p/missing.json", []byte(`{}`), v2)
		if !errors.Is(err, driver.ErrPrecondition) && !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("CAS on a missing object: %v, want ErrPrecondition or ErrNotFound", err)
		}
		if _, err := b.Get(ctx, "p/missing.json"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("CAS on a missing object created it: Get = %v", err)
		}

		_, err = b.Get(ctx, "p/none.json")
		wantErr(t, "Get of a missing key", err, driver.ErrNotFound)

		if err := b.Delete(ctx, "p/none.json"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		// Delete is unconditional: it removes whatever version is current.
		if err := b.Delete(ctx, key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err = b.Get(ctx, key)
		wantErr(t, "Get after Delete", err, driver.ErrNotFound)
		if err := b.Delete(ctx, key); err != nil {
			t.Fatalf("second Delete: %v", err)
		}

		// A deleted key can be created again.
		if _, err := b.Put(ctx, key, []byte(`{"n":3}`), driver.CreateOnly); err != nil {
			t.Fatalf("create after delete: %v", err)
		}
	})
}

func TestMissingBucket(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		b := newBucket(t, e, bucketName(t), nil, nil) // never created
		_, err := b.Get(ctx, "k.json")
		wantErr(t, "Get", err, driver.ErrBucketNotFound)
		_, err = b.Put(ctx, "k.json", []byte(`{}`), driver.CreateOnly)
		wantErr(t, "Put create-only", err, driver.ErrBucketNotFound)
		_, err = b.Put(ctx, "k.json", []byte(`{}`), `"0123456789abcdef0123456789abcdef"`)
		wantErr(t, "Put CAS", err, driver.ErrBucketNotFound)
		_, _, err = b.List(ctx, "", "")
		wantErr(t, "List", err, driver.ErrBucketNotFound)
		err = b.Delete(ctx, "k.json")
		wantErr(t, "Delete", err, driver.ErrBucketNotFound)
	})
}

func TestWrongCredentials(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		name := newTestBucket(ctx, t, e)
		good := newBucket(t, e, name, nil, nil)
		if _, err := good.Put(ctx, "k.json", []byte(`{}`), driver.CreateOnly); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, access, secret string }{
			{"wrong-secret", e.accessKey, e.secretKey + "x"},
			{"unknown-access-key", "tidemark-nobody", "not-a-secret-0123456789"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b, err := openBucket(e.clientWithKeys(tc.access, tc.secret, nil), name, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = b.Close() }()
				_, err = b.Get(ctx, "k.json")
				wantErr(t, "Get of an existing key", err, driver.ErrPermission)
				_, err = b.Get(ctx, "missing.json")
				wantErr(t, "Get of a missing key", err, driver.ErrPermission)
				_, err = b.Put(ctx, "k2.json", []byte(`{}`), driver.CreateOnly)
				wantErr(t, "Put", err, driver.ErrPermission)
				_, _, err = b.List(ctx, "", "")
				wantErr(t, "List", err, driver.ErrPermission)
				var ae smithy.APIError
				if errors.As(err, &ae) {
					t.Logf("%s answers %s", e.name, ae.ErrorCode())
				}
			})
		}
	})
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never answers, as a host that drops
// packets after the handshake would.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestUnreachable checks that every operation fails, unclassified (an unknown
// outcome, not "not found"), within a bounded time when the service cannot be
// reached.
func TestUnreachable(t *testing.T) {
	const bound = 15 * time.Second
	fake := emulator{name: "none", accessKey: "k", secretKey: "s"}
	cases := []struct {
		name string
		addr func(*testing.T) string
		opts *Options
		max  time.Duration
	}{
		{"refused/defaults", closedPort, nil, bound},
		{"silent/short-timeout", silentServer, &Options{AttemptTimeout: 300 * time.Millisecond, MaxAttempts: 2}, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := fake
			e.endpoint = "http://" + tc.addr(t)
			b := newBucket(t, e, "tm-unreachable", nil, tc.opts)
			ops := map[string]func(ctx context.Context) error{
				"Get": func(ctx context.Context) error { _, err := b.Get(ctx, "k.json"); return err },
				"Put": func(ctx context.Context) error {
					_, err := b.Put(ctx, "k.json", []byte(`{}`), `"v"`)
					return err
				},
				"Delete": func(ctx context.Context) error { return b.Delete(ctx, "k.json") },
				"List": func(ctx context.Context) error {
					_, _, err := b.List(ctx, "", "")
					return err
				},
			}
			for _, op := range []string{"Get", "Put", "Delete", "List"} {
				// The context is far longer than the bound: the driver's
				// own limits must end the call.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				start := time.Now()
				err := ops[op](ctx)
				elapsed := time.Since(start)
				cancel()
				if err == nil {
					t.Fatalf("%s: no error", op)
				}
				for _, s := range sentinels {
					if errors.Is(err, s) {
						t.Fatalf("%s: error classified as %v: %v", op, s, err)
					}
				}
				if elapsed > tc.max {
					t.Fatalf("%s took %v, want at most %v: %v", op, elapsed, tc.max, err)
				}
				if strings.Contains(err.Error(), "k.json") {
					t.Errorf("%s: the driver names the key (blobstore does): %v", op, err)
				}
				t.Logf("%s failed after %v: %v", op, elapsed.Round(time.Millisecond), err)
			}
		})
	}
}

// TestUnreachableURL checks the same bound through the URL opener and
// blobstore, with the client gocloud.dev builds.
func TestUnreachableURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	u := fmt.Sprintf("s3://tm-unreachable?endpoint=http://%s&use_path_style=true&region=us-east-1&prefix=p/", closedPort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := blobstore.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.StoreExists(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, blobstore.ErrUnavailable) {
		t.Fatalf("StoreExists: %v, want ErrUnavailable", err)
	}
	if elapsed > 15*time.Second {
		t.Fatalf("StoreExists took %v", elapsed)
	}
	t.Logf("failed after %v: %v", elapsed.Round(time.Millisecond), err)
	_, _, err = s.ReadRecordBytes(ctx, "7")
	if !errors.Is(err, blobstore.ErrUnavailable) {
		t.Fatalf("ReadRecordBytes: %v, want ErrUnavailable", err)
	}
	keyOnce(t, err, "get", "p/7.json")
	oneLine(t, err.Error(), "connection refused")
	t.Logf("%v", err)
}

// TestRacingWriters: N writers with a driver and a client each race a
// conditional write made with the same condition; exactly one wins.
func TestRacingWriters(t *testing.T) {
	const writers, rounds = 16, 5
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 2*time.Minute)
		name := newTestBucket(ctx, t, e)
		bkts := make([]*bucket, writers)
		for i := range bkts {
			bkts[i] = newBucket(t, e, name, nil, nil)
		}
		race := func(key, ifVersion string) (winner string) {
			t.Helper()
			type result struct {
				version string
				err     error
			}
			results := make(chan result, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, b := range bkts {
				wg.Go(func() {
					<-start
					body := fmt.Appendf(nil, `{"writer":%d,"if":%q}`, i, ifVersion)
					v, err := b.Put(ctx, key, body, ifVersion)
					results <- result{v, err}
				})
			}
			close(start)
			wg.Wait()
			close(results)
			wins := 0
			for r := range results {
				switch {
				case r.err == nil:
					wins++
					winner = r.version
				case errors.Is(r.err, driver.ErrPrecondition):
				default:
					t.Errorf("%s: loser got %v, want ErrPrecondition", key, r.err)
				}
			}
			if wins != 1 {
				t.Fatalf("%s (if %q): %d winners, want exactly 1", key, ifVersion, wins)
			}
			if obj := mustGet(ctx, t, bkts[0], key); obj.Version != winner {
				t.Fatalf("%s: stored version %q, winner's %q", key, obj.Version, winner)
			}
			return winner
		}
		for r := range rounds {
			key := fmt.Sprintf("race/%d.json", r)
			v := race(key, driver.CreateOnly)
			v = race(key, v)
			race(key, v)
		}
	})
}

func TestListPaging(t *testing.T) {
	const n = 1100 // more than S3's 1000 keys per page
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 3*time.Minute)
		name := newTestBucket(ctx, t, e)
		seed := newBucket(t, e, name, nil, nil)
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("list/p-%05d.json", i)
		}
		others := []string{"lis.json", "list.json", "lisu/x.json", "zz/x.json"}
		putAll(ctx, t, seed, append(slices.Clone(want), others...))
		slices.Sort(want)

		for _, tc := range []struct {
			pageSize, wantPages int
		}{{0, 2}, {250, 5}} {
			t.Run(fmt.Sprintf("page-size-%d", tc.pageSize), func(t *testing.T) {
				var c counter
				c.next = awshttp.NewBuildableClient()
				b := newBucket(t, e, name, &c, &Options{PageSize: tc.pageSize})
				var got []string
				token, pages := "", 0
				for {
					entries, next, err := b.List(ctx, "list/", token)
					if err != nil {
						t.Fatalf("List page %d: %v", pages, err)
					}
					pages++
					for _, en := range entries {
						got = append(got, en.Key)
					}
					if next == "" {
						break
					}
					if pages > n {
						t.Fatal("List does not end")
					}
					token = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("List returned %d keys (first %q), want %d in order", len(got), got[:min(3, len(got))], len(want))
				}
				if pages != tc.wantPages || c.n.Load() != int64(pages) {
					t.Fatalf("%d pages in %d requests, want %d pages, one request each", pages, c.n.Load(), tc.wantPages)
				}
			})
		}
	})
}

// putAll creates the keys with a few parallel writers.
func putAll(ctx context.Context, t *testing.T, b driver.Bucket, keys []string) {
	t.Helper()
	work := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range work {
				if _, err := b.Put(ctx, k, []byte(`{}`), driver.CreateOnly); err != nil {
					errs <- err
					return
				}
			}
		})
	}
feed:
	for _, k := range keys {
		select {
		case work <- k:
		case err := <-errs:
			t.Errorf("Put: %v", err)
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Put: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestRequestsPerOperation: every driver operation is exactly one request.
func TestRequestsPerOperation(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		c := newCounter()
		b := newBucket(t, e, newTestBucket(ctx, t, e), c, nil)
		var v string
		steps := []struct {
			name string
			fn   func() error
		}{
			{"create", func() (err error) { v, err = b.Put(ctx, "k.json", []byte(`{"n":1}`), driver.CreateOnly); return err }},
			{"cas", func() (err error) { v, err = b.Put(ctx, "k.json", []byte(`{"n":2}`), v); return err }},
			{"lost-cas", func() error {
				_, err := b.Put(ctx, "k.json", []byte(`{"n":3}`), `"0123456789abcdef0123456789abcdef"`)
				if !errors.Is(err, driver.ErrPrecondition) {
					return fmt.Errorf("want ErrPrecondition, got %w", err)
				}
				return nil
			}},
			{"get", func() error { _, err := b.Get(ctx, "k.json"); return err }},
			{"list", func() error { _, _, err := b.List(ctx, "", ""); return err }},
			{"delete", func() error { return b.Delete(ctx, "k.json") }},
		}
		for _, s := range steps {
			before := c.n.Load()
			if err := s.fn(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if n := c.n.Load() - before; n != 1 {
				t.Errorf("%s took %d requests, want 1", s.name, n)
			}
		}
	})
}

func TestURLOpener(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		name := newTestBucket(ctx, t, e)
		t.Setenv("AWS_ACCESS_KEY_ID", e.accessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", e.secretKey)
		q := url.Values{"endpoint": {e.endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}}
		u, err := url.Parse("s3://" + name + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}

		d, err := new(URLOpener).OpenBucketURL(ctx, u)
		if err != nil {
			t.Fatalf("OpenBucketURL: %v", err)
		}
		defer d.Close()
		var client *awss3.Client
		if a, ok := d.(driver.Aser); !ok || !a.As(&client) || client == nil {
			t.Fatal("As(**s3.Client) failed")
		}
		var other *awss3.Options
		if d.(driver.Aser).As(&other) {
			t.Error("As(**s3.Options) reported success")
		}
		v, err := d.Put(ctx, "direct.json", []byte(`{}`), driver.CreateOnly)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if obj := mustGet(ctx, t, d, "direct.json"); obj.Version != v {
			t.Fatalf("Get version %q, Put returned %q", obj.Version, v)
		}

		// Through blobstore: the scheme is registered and prefix is handled
		// there.
		s, err := blobstore.Open(ctx, u.String()+"&prefix=orders/billing/", nil)
		if err != nil {
			t.Fatalf("blobstore.Open: %v", err)
		}
		defer s.Close()
		if err := s.CreateStoreIfNotExists(ctx); err != nil {
			t.Fatalf("CreateStoreIfNotExists: %v", err)
		}
		if ok, err := s.StoreExists(ctx); err != nil || !ok {
			t.Fatalf("StoreExists = %v, %v", ok, err)
		}
		// The Store forwards As to the driver.
		var storeClient *awss3.Client
		if !s.As(&storeClient) || storeClient == nil {
			t.Fatal("Store.As(**s3.Client) failed")
		}
		entries, _, err := d.List(ctx, "orders/billing/", "")
		if err != nil || len(entries) == 0 {
			t.Fatalf("nothing under the prefix: %v %v", entries, err)
		}

		// A missing bucket through the URL.
		um := *u
		um.Host = bucketName(t)
		s2, err := blobstore.Open(ctx, um.String(), nil)
		if err != nil {
			t.Fatalf("blobstore.Open: %v", err)
		}
		defer s2.Close()
		if ok, err := s2.StoreExists(ctx); ok || err != nil {
			t.Fatalf("StoreExists on a missing bucket = %v, %v; want false, nil", ok, err)
		}
		if err := s2.CreateStoreIfNotExists(ctx); !errors.Is(err, blobstore.ErrStoreNotFound) {
			t.Fatalf("CreateStoreIfNotExists on a missing bucket: %v, want ErrStoreNotFound", err)
		}
	})
}

func TestURLOpenerRefuses(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	for _, raw := range []string{
		"s3://?region=us-east-1",
		"s3://b/some/path?region=us-east-1",
		"s3://b?region=us-east-1&key=x",
		"s3://b?region=us-east-1&bogus=1",
		"s3://b?region=us-east-1&use_path_style=maybe",
		"s3://b?region=us-east-1&ssetype=rot13",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := new(URLOpener).OpenBucketURL(ctx, u); err == nil {
			d.Close()
			t.Errorf("%s: no error", raw)
		}
		if s, err := blobstore.Open(ctx, raw, nil); !errors.Is(err, blobstore.ErrInvalidURL) {
			if s != nil {
				s.Close()
			}
			t.Errorf("blobstore.Open(%s): %v, want ErrInvalidURL", raw, err)
		}
	}
	u, _ := url.Parse("s3://b?region=us-east-1&ssetype=aes256&kmskeyid=k1")
	d, err := new(URLOpener).OpenBucketURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if o := d.(*bucket).opts; o.EncryptionType != "AES256" || o.KMSEncryptionID != "k1" {
		t.Fatalf("encryption options not taken from the URL: %+v", o)
	}
}

func TestOpenBucketOptions(t *testing.T) {
	ctx := testContext(t, 5*time.Second)
	c := awss3.New(awss3.Options{Region: "us-east-1"})
	if _, err := OpenBucket(ctx, nil, "b", nil); err == nil {
		t.Error("nil client: no error")
	}
	if _, err := OpenBucket(ctx, c, "", nil); err == nil {
		t.Error("empty bucket name: no error")
	}
	for _, o := range []Options{{MaxAttempts: -1}, {MaxBackoff: -1}, {PageSize: -1}, {PageSize: 1001}} {
		if _, err := OpenBucket(ctx, c, "b", &o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	d, err := OpenBucket(ctx, c, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.(*bucket).opts; got.MaxAttempts != DefaultMaxAttempts || got.MaxBackoff != DefaultMaxBackoff ||
		got.AttemptTimeout != DefaultAttemptTimeout || got.PageSize != DefaultPageSize {
		t.Errorf("defaults not applied: %+v", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "k"); err == nil {
		t.Error("Get after Close: no error")
	}
}

// TestErrorMapping covers answers the emulators do not give (real S3's 409
// ConditionalRequestConflict, ExpiredToken) with errors shaped as the SDK
// shapes them.
func TestErrorMapping(t *testing.T) {
	apiErr := func(status int, code string) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
			Err: &awshttp.ResponseError{
				ResponseError: &smithyhttp.ResponseError{
					Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
					Err:      &smithy.GenericAPIError{Code: code, Message: "m"},
				},
			}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"412", apiErr(412, "PreconditionFailed"), driver.ErrPrecondition},
		{"412-no-code", apiErr(412, ""), driver.ErrPrecondition},
		{"409-conflict", apiErr(409, "ConditionalRequestConflict"), driver.ErrConflict},
		{"409-other", apiErr(409, "BucketNotEmpty"), nil},
		{"404-key", apiErr(404, "NoSuchKey"), driver.ErrNotFound},
		{"404-bucket", apiErr(404, "NoSuchBucket"), driver.ErrBucketNotFound},
		{"403-denied", apiErr(403, "AccessDenied"), driver.ErrPermission},
		{"403-key", apiErr(403, "InvalidAccessKeyId"), driver.ErrPermission},
		{"403-sig", apiErr(403, "SignatureDoesNotMatch"), driver.ErrPermission},
		{"404-versitygw-unknown-key", apiErr(404, "XAdminUserNotFound"), driver.ErrPermission},
		{"404-other", apiErr(404, "NoSuchUpload"), nil},
		{"400-expired", apiErr(400, "ExpiredToken"), driver.ErrPermission},
		{"401", apiErr(401, ""), driver.ErrPermission},
		{"301-region", apiErr(301, "PermanentRedirect"), nil},
		{"500", apiErr(500, "InternalError"), nil},
		{"503", apiErr(503, "SlowDown"), nil},
		{"transport", &smithy.OperationError{Err: errors.New("dial tcp: connection refused")}, nil},
		{"transport-url", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
			Err: &retry.MaxAttemptsError{Attempt: 3, Err: &url.Error{Op: "Put",
				URL: "http://127.0.0.1:9000/b/k.json?x-id=PutObject",
				Err: errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")}}}, nil},
		{"deadline", context.DeadlineExceeded, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&bucket{name: "b"}).wrapError(tc.err)
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tc.want) { //nolint:errorlint // comparing sentinel identities
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the SDK error is not wrapped: %v", err)
			}
			// The sentinel and the SDK's words, nothing else: blobstore
			// names the operation and the key.
			msg := err.Error()
			want := compact(tc.err).Error()
			if tc.want != nil {
				want = tc.want.Error() + ": " + want
			}
			if msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
			if strings.Contains(msg, "s3: put") || strings.Contains(msg, "k.json") {
				t.Errorf("message %q names the operation or the key", msg)
			}
		})
	}
	// A request without an answer: the endpoint, the attempts and the
	// network's words, not the SDK's request URL (which holds the key).
	err := (&bucket{name: "b"}).wrapError(&smithy.OperationError{ServiceID: "S3", OperationName: "GetObject",
		Err: &retry.MaxAttemptsError{Attempt: 3, Err: &url.Error{Op: "Get",
			URL: "http://127.0.0.1:9000/b/k.json?x-id=GetObject", Err: context.DeadlineExceeded}}})
	if want := "request to http://127.0.0.1:9000 failed (3 attempts): context deadline exceeded"; err.Error() != want {
		t.Errorf("transport error reads %q, want %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the network error is not wrapped: %v", err)
	}
	if (&bucket{name: "b"}).wrapError(nil) != nil {
		t.Error("wrapError(nil) != nil")
	}
}

// TestListVersions: a listing gives each object's version in the very form
// Put returned it and Get returns it (S3's quoted ETag), on every page of a
// listing that spans several, and a listed version is usable as If-Match.
func TestListVersions(t *testing.T) {
	const n = 7 // pages of 1; 2, 2, 2, 1; 3, 3, 1; 7
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 2*time.Minute)
		name := newTestBucket(ctx, t, e)
		w := newBucket(t, e, name, nil, nil)

		want := map[string]string{} // key: the version Put returned last
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("v/%d.json", i)
			body := fmt.Appendf(nil, `{"n":%d}`, i)
			switch i {
			case 1:
				body = nil // an empty object has an ETag too
			case 4:
				body = bytes.Repeat([]byte("x"), 256<<10) // still one PutObject
			}
			v, err := w.Put(ctx, keys[i], body, driver.CreateOnly)
			if err != nil {
				t.Fatalf("create %s: %v", keys[i], err)
			}
			want[keys[i]] = v
		}
		// Overwrite some keys: a listing must show the current version.
		for i := 0; i < n; i += 2 {
			v, err := w.Put(ctx, keys[i], fmt.Appendf(nil, `{"n":%d,"again":true}`, i), want[keys[i]])
			if err != nil {
				t.Fatalf("CAS %s: %v", keys[i], err)
			}
			want[keys[i]] = v
		}
		// Keys outside the prefix, around it in lexical order.
		for _, k := range []string{"u/0.json", "v.json", "v0.json", "w/0.json"} {
			if _, err := w.Put(ctx, k, []byte(`{}`), driver.CreateOnly); err != nil {
				t.Fatalf("create %s: %v", k, err)
			}
		}
		for _, k := range keys {
			if obj := mustGet(ctx, t, w, k); obj.Version != want[k] {
				t.Fatalf("%s: Get gives version %q, Put returned %q", k, obj.Version, want[k])
			}
		}
		t.Logf("%s: Put and Get give version %s", e.name, want[keys[0]])

		list := func(t *testing.T, b *bucket) (got []driver.Entry, sizes []int) {
			t.Helper()
			token := ""
			for {
				entries, next, err := b.List(ctx, "v/", token)
				if err != nil {
					t.Fatalf("List page %d: %v", len(sizes), err)
				}
				got = append(got, entries...)
				sizes = append(sizes, len(entries))
				if next == "" {
					return got, sizes
				}
				if len(sizes) > 2*n {
					t.Fatal("List does not end")
				}
				token = next
			}
		}
		for _, ps := range []int{1, 2, 3, 0} {
			t.Run(fmt.Sprintf("page-size-%d", ps), func(t *testing.T) {
				b := newBucket(t, e, name, nil, &Options{PageSize: ps})
				got, sizes := list(t, b)
				if len(sizes) > 1 && sizes[len(sizes)-1] == 0 {
					// MinIO marks a page that is exactly full as truncated
					// without looking ahead: the next one is empty.
					t.Logf("%s: the last page is empty", e.name)
					sizes = sizes[:len(sizes)-1]
				}
				var wantSizes []int
				for left, size := n, cmp.Or(ps, DefaultPageSize); left > 0; left -= size {
					wantSizes = append(wantSizes, min(left, size))
				}
				if !slices.Equal(sizes, wantSizes) {
					t.Errorf("pages of %v keys, want %v", sizes, wantSizes)
				}
				var gotKeys []string
				for _, en := range got {
					gotKeys = append(gotKeys, en.Key)
					if en.Version != want[en.Key] {
						t.Errorf("%s: listed version %q, Put returned (and Get gives) %q", en.Key, en.Version, want[en.Key])
					}
				}
				if !slices.Equal(gotKeys, keys) {
					t.Fatalf("listed %q, want %q", gotKeys, keys)
				}
			})
		}

		// A listed version is a version the service accepts as If-Match, and
		// the next listing shows the version that write returned.
		b := newBucket(t, e, name, nil, &Options{PageSize: 2})
		got, _ := list(t, b)
		for _, en := range got[:3] {
			v, err := b.Put(ctx, en.Key, fmt.Appendf(nil, `{"k":%q,"from":"listing"}`, en.Key), en.Version)
			if err != nil {
				t.Fatalf("CAS %s on its listed version %q: %v", en.Key, en.Version, err)
			}
			want[en.Key] = v
		}
		got, _ = list(t, b)
		t.Logf("%s: ListObjectsV2 gives version %s", e.name, got[0].Version)
		for _, en := range got {
			if en.Version != want[en.Key] {
				t.Errorf("%s: listed version %q after CAS, Put returned %q", en.Key, en.Version, want[en.Key])
			}
		}
	})
}
