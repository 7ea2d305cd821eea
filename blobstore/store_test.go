package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenURLs(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	for _, c := range []struct {
		url, wantPrefix string
		wantErr         error
	}{
		{"mem://", "", nil},
		{"mem://shared-name", "", nil},
		{"mem://x?prefix=orders/billing/", "orders/billing/", nil},
		{"mem://x?prefix=orders", "orders/", nil},
		{"file://" + dir, "", nil},
		{"file://" + dir + "?prefix=g1/", "g1/", nil},
		{"file://localhost" + dir, "", nil},
		{"nosuch://bucket", "", blobstore.ErrInvalidURL},
		{"no-scheme-at-all", "", blobstore.ErrInvalidURL},
		{"::bad", "", blobstore.ErrInvalidURL},
		{"mem://x?color=blue", "", blobstore.ErrInvalidURL},
		{"file://otherhost/tmp/x", "", blobstore.ErrInvalidURL},
		{"file://relative", "", blobstore.ErrInvalidURL},
		{"mem://x?prefix=../up/", "", blobstore.ErrInvalidArgument},
		{"mem://x?prefix=/abs/", "", blobstore.ErrInvalidArgument},
		{"mem://x?prefix=a//b/", "", blobstore.ErrInvalidArgument},
		{"mem://x?prefix=g/.hosts/", "", blobstore.ErrInvalidArgument},
		{"mem://x?prefix=.tidemark-fs/", "", blobstore.ErrInvalidArgument},
	} {
		s, err := blobstore.Open(ctx, c.url, nil)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("Open(%q) = %v, want %v", c.url, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		if s.Prefix() != c.wantPrefix {
			t.Errorf("Open(%q).Prefix() = %q, want %q", c.url, s.Prefix(), c.wantPrefix)
		}
		s.Close()
	}
}

func TestOpenNeverPrintsCredentials(t *testing.T) {
	_, err := blobstore.Open(testCtx(t), "nosuch://user:hunter2@bucket", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v shows the password", err)
	}
	_, err = blobstore.Open(testCtx(t), "mem://user:hunter2@x?bad=1", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v shows the password", err)
	}
}

// registerLeaky registers the "leaky" scheme, whose opener echoes its URL,
// once per process: Register panics on a duplicate, and go test -count=N
// runs each test N times.
var registerLeaky = sync.OnceFunc(func() {
	blobstore.Register("leaky", blobstore.BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		return nil, fmt.Errorf("cannot open %s: %w", u.String(), os.ErrPermission)
	}))
})

func TestOpenerErrorsAreScrubbed(t *testing.T) {
	registerLeaky()
	_, err := blobstore.Open(testCtx(t), "leaky://user:hunter2@b?sas_token=abc123def&region=x", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "abc123def") {
		t.Fatalf("secrets in %v", err)
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("the opener's error is no longer reachable: %v", err)
	}
}

func TestMemNamesAreShared(t *testing.T) {
	ctx := testCtx(t)
	a, _ := blobstore.Open(ctx, "mem://TestMemNamesAreShared", nil)
	b, _ := blobstore.Open(ctx, "mem://TestMemNamesAreShared", nil)
	private, _ := blobstore.Open(ctx, "mem://", nil)
	if err := a.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.StoreExists(ctx); !ok {
		t.Fatal("a store created through one mem://NAME is not visible through another")
	}
	if ok, _ := private.StoreExists(ctx); ok {
		t.Fatal("mem:// is not private")
	}
}

func TestFileStoreCreatesItsDirectory(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "deep", "ckpt")
	s, err := blobstore.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetCheckpoint(ctx, "0"); !errors.Is(err, blobstore.ErrStoreNotFound) {
		t.Fatalf("GetCheckpoint before the directory exists: %v, want ErrStoreNotFound", err)
	}
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCheckpointIfNotExists(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"offset":"-1"`) {
		t.Fatalf("record on disk: %s", data)
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []blobstore.Options{
		{LeaseDuration: 10 * time.Second, RenewInterval: 10 * time.Second},
		{LeaseDuration: 10 * time.Second, RenewInterval: 20 * time.Second},
		{LeaseDuration: -time.Second},
		{Owner: "bad\nname"},
		{Prefix: "../x"},
	} {
		if _, err := blobstore.New(membucket.New(), &o); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("New(%+v) = %v, want ErrInvalidArgument", o, err)
		}
	}
	s, err := blobstore.New(membucket.New(), &blobstore.Options{LeaseDuration: 9 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.RenewInterval() != 3*time.Second || s.LeaseDuration() != 9*time.Second {
		t.Fatalf("defaults: renew %v lease %v", s.RenewInterval(), s.LeaseDuration())
	}
	if s.Owner() == "" {
		t.Fatal("no default owner")
	}
}

func TestValidatePartitionID(t *testing.T) {
	for id, ok := range map[string]bool{
		"0": true, "topic-3": true, "ünï": true, ".x": true, strings.Repeat("a", blobstore.MaxPartitionIDLen): true,
		"": false, ".": false, "..": false, "a/b": false, `a\b`: false, "a\x00": false, "\t": false,
		"\xff": false, strings.Repeat("a", blobstore.MaxPartitionIDLen+1): false,
	} {
		err := blobstore.ValidatePartitionID(id)
		if (err == nil) != ok || (err != nil && !errors.Is(err, blobstore.ErrInvalidPartitionID)) {
			t.Errorf("ValidatePartitionID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// failing is a driver whose every request fails with err.
type failing struct {
	driver.Bucket
	err error
}

func (f failing) Get(context.Context, string) (driver.Object, error) { return driver.Object{}, f.err }
func (f failing) Put(context.Context, string, []byte, string) (string, error) {
	return "", f.err
}
func (f failing) List(context.Context, string, string) ([]driver.Entry, string, error) {
	return nil, "", f.err
}

type sdkError struct{ code int }

func (e *sdkError) Error() string { return fmt.Sprintf("sdk status %d", e.code) }

// Provider errors are wrapped once: the sentinel for errors.Is, the key in the
// message and the SDK's own error for errors.As.
func TestErrorsAreWrapped(t *testing.T) {
	ctx := testCtx(t)
	for _, c := range []struct {
		driverErr error
		want      error
	}{
		{fmt.Errorf("x: %w", driver.ErrBucketNotFound), blobstore.ErrStoreNotFound},
		{fmt.Errorf("x: %w", driver.ErrPermission), blobstore.ErrPermission},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), blobstore.ErrUnavailable},
	} {
		inner := &sdkError{code: 403}
		drvErr := fmt.Errorf("%w: %w", c.driverErr, inner)
		s, err := blobstore.New(failing{Bucket: membucket.New(), err: drvErr}, &blobstore.Options{Prefix: "p/"})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.GetCheckpoint(ctx, "9")
		if !errors.Is(err, c.want) {
			t.Errorf("GetCheckpoint with driver error %v: got %v, want %v", c.driverErr, err, c.want)
		}
		var got *sdkError
		if !errors.As(err, &got) || got != inner {
			t.Errorf("the SDK error is not reachable through %v", err)
		}
		if !strings.Contains(err.Error(), "p/9.json") {
			t.Errorf("error %v does not name the key", err)
		}
		if n := strings.Count(err.Error(), "tidemark:"); n != 1 {
			t.Errorf("error %v is wrapped %d times", err, n)
		}
	}
}

func TestClosedStore(t *testing.T) {
	ctx := testCtx(t)
	s, _ := blobstore.Open(ctx, "mem://", nil)
	s.Close()
	if _, _, err := s.GetCheckpoint(ctx, "0"); !errors.Is(err, blobstore.ErrClosed) {
		t.Fatalf("GetCheckpoint after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
