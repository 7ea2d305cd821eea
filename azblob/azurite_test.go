package azblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// The tests run against Azurite (scripts/emulators.sh start azurite, then
// eval "$(scripts/emulators.sh env)"). Without it they skip, unless
// TIDEMARK_REQUIRE_EMULATORS=1 asks for a failure instead.
const (
	envConnString = "TIDEMARK_AZURITE_CONNECTION_STRING"
	envRequire    = "TIDEMARK_REQUIRE_EMULATORS"
)

// azurite returns the Azurite connection string or skips (or fails) the test.
func azurite(tb testing.TB) string {
	tb.Helper()
	cs := os.Getenv(envConnString)
	if cs == "" {
		if os.Getenv(envRequire) == "1" {
			tb.Fatalf("%s is not set and %s=1: start Azurite (scripts/emulators.sh start azurite) and eval \"$(scripts/emulators.sh env)\"", envConnString, envRequire)
		}
		tb.Skipf("%s is not set: start Azurite with scripts/emulators.sh to run the Azure tests", envConnString)
	}
	return cs
}

// connField returns a field of an Azure connection string.
func connField(cs, name string) string {
	for part := range strings.SplitSeq(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// testContext bounds every test.
func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// containerName makes a valid, unique Azure container name (3-63 characters
// of [a-z0-9-], no double hyphen) from the test's name.
func containerName(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("tm-")
	for _, r := range strings.ToLower(tb.Name()) {
		if len(b.String()) >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if !strings.HasSuffix(b.String(), "-") {
		b.WriteByte('-')
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// counter is an http transport that counts the requests the SDK sends.
type counter struct{ n atomic.Int64 }

func (c *counter) Do(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

// newClient returns a container client for name on Azurite; transport may be
// nil.
func newClient(tb testing.TB, cs, name string, transport policy.Transporter) *container.Client {
	tb.Helper()
	opts := &container.ClientOptions{}
	if transport != nil {
		opts.Transport = transport
	}
	c, err := container.NewClientFromConnectionString(cs, name, opts)
	if err != nil {
		tb.Fatalf("NewClientFromConnectionString: %v", err)
	}
	return c
}

// newContainer creates a container of its own for the test and deletes it
// afterwards.
func newContainer(ctx context.Context, tb testing.TB) (cs string, c *container.Client) {
	tb.Helper()
	cs = azurite(tb)
	name := containerName(tb)
	c = newClient(tb, cs, name, nil)
	if _, err := c.Create(ctx, nil); err != nil {
		tb.Fatalf("create container %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Delete(ctx, nil); err != nil {
			tb.Logf("delete container %s: %v", name, err)
		}
	})
	return cs, c
}

// newBucket opens the driver on c.
func newBucket(tb testing.TB, c *container.Client, opts *Options) *bucket {
	tb.Helper()
	b, err := openBucket(c, opts)
	if err != nil {
		tb.Fatalf("openBucket: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}
