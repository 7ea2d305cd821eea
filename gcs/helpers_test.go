package gcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// testTimeout bounds every test that talks to the emulator.
const testTimeout = 2 * time.Minute

// testCtx returns a context that ends with the test or after testTimeout.
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// requireEmulator skips t when STORAGE_EMULATOR_HOST is unset, or fails it
// when TIDEMARK_REQUIRE_EMULATORS=1 says the emulator must be there.
func requireEmulator(tb testing.TB) {
	tb.Helper()
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		return
	}
	const how = `start fake-gcs-server with: bash scripts/emulators.sh start fake-gcs-server && eval "$(bash scripts/emulators.sh env)"`
	if os.Getenv("TIDEMARK_REQUIRE_EMULATORS") == "1" {
		tb.Fatalf("STORAGE_EMULATOR_HOST is not set but TIDEMARK_REQUIRE_EMULATORS=1; %s", how)
	}
	tb.Skipf("STORAGE_EMULATOR_HOST is not set; %s", how)
}

// emulatorClient returns a storage client for the emulator, closed when the
// test ends. storage.NewClient reads STORAGE_EMULATOR_HOST itself.
func emulatorClient(tb testing.TB, opts ...option.ClientOption) *gcstorage.Client {
	tb.Helper()
	requireEmulator(tb)
	c, err := gcstorage.NewClient(context.Background(), opts...)
	if err != nil {
		tb.Fatalf("storage.NewClient: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var nonBucketChars = regexp.MustCompile(`[^a-z0-9-]+`)

// uniqueBucketName derives a valid, unique bucket name from the test's name.
func uniqueBucketName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := nonBucketChars.ReplaceAllString(strings.ToLower(tb.Name()), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return "tm-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}

// newBucket creates a bucket of the test's own on the emulator and removes it,
// with its objects, when the test ends.
func newBucket(ctx context.Context, tb testing.TB, c *gcstorage.Client) string {
	tb.Helper()
	name := uniqueBucketName(tb)
	if err := c.Bucket(name).Create(ctx, "tidemark-test", nil); err != nil {
		tb.Fatalf("creating bucket %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bh := c.Bucket(name)
		it := bh.Objects(ctx, nil)
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				tb.Logf("cleanup: listing %s: %v", name, err)
				return
			}
			_ = bh.Object(a.Name).Delete(ctx)
		}
		if err := bh.Delete(ctx); err != nil {
			tb.Logf("cleanup: deleting bucket %s: %v", name, err)
		}
	})
	return name
}

// countingTransport counts the HTTP requests a storage client sends.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// take returns the requests sent since the last call and forgets them.
func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}
