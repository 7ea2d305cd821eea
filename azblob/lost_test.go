package azblob

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is a transport that, while armed, sends the next PUT to the
// service and then drops the answer. A function given with
// LoseNextWriteResponseThen runs after the write landed and before the
// failure reaches the SDK.
type loseResponse struct {
	armed atomic.Bool
	lost  atomic.Int32

	mu   sync.Mutex
	then func()
}

func (l *loseResponse) LoseNextWriteResponse() { l.LoseNextWriteResponseThen(nil) }
func (l *loseResponse) Lost() int              { return int(l.lost.Load()) }

func (l *loseResponse) LoseNextWriteResponseThen(then func()) {
	l.mu.Lock()
	l.then = then
	l.mu.Unlock()
	l.armed.Store(true)
}

func (l *loseResponse) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && l.armed.CompareAndSwap(true, false) {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		l.lost.Add(1)
		l.mu.Lock()
		then := l.then
		l.mu.Unlock()
		if then != nil {
			then()
		}
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

func TestLostResponseAtTransport(t *testing.T) {
	ctx := testContext(t, time.Minute)
	cs, c := newContainer(ctx, t)
	lr := &loseResponse{}
	drv, err := OpenBucket(ctx, newClient(t, cs, containerNameOf(c), lr), nil)
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunLostWriteResponse(t, drv, lr)
}

// twoHosts opens two drivers on one new container: the first over
// transport, the second over the default one.
func twoHosts(ctx context.Context, t *testing.T, transport policy.Transporter) (a, b driver.Bucket) {
	t.Helper()
	cs, c := newContainer(ctx, t)
	a, err := OpenBucket(ctx, newClient(t, cs, containerNameOf(c), transport), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = OpenBucket(ctx, newClient(t, cs, containerNameOf(c), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// A write that landed, lost its response, and was overwritten by another
// host before the read-back is an unknown outcome, never a refusal
// (hardening item 1).
func TestLostThenOverwritten(t *testing.T) {
	lr := &loseResponse{}
	a, b := twoHosts(testContext(t, time.Minute), t, lr)
	conformance.RunLostThenOverwritten(t, a, b, lr)
}

// A host whose path to the store hangs stops processing before another host
// takes its partitions (hardening item 2).
func TestHungHost(t *testing.T) {
	ht := &conformance.HangingTransport{}
	a, b := twoHosts(testContext(t, 2*time.Minute), t, ht)
	conformance.RunHungHost(t, a, b, ht)
}
