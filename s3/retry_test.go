package s3

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is an HTTP client that, while armed, sends the next PUT to
// the service and then drops the answer, failing as a connection reset after
// the request was sent does. The SDK treats that as retryable. A function
// given with LoseNextWriteResponseThen runs after the write landed and
// before the failure reaches the SDK (and so before its retry).
type loseResponse struct {
	next  *awshttp.BuildableClient
	armed atomic.Bool
	lost  atomic.Int32

	mu   sync.Mutex
	then func()
}

func (c *loseResponse) LoseNextWriteResponse() { c.LoseNextWriteResponseThen(nil) }
func (c *loseResponse) Lost() int              { return int(c.lost.Load()) }

func (c *loseResponse) LoseNextWriteResponseThen(then func()) {
	c.mu.Lock()
	c.then = then
	c.mu.Unlock()
	c.armed.Store(true)
}

func (c *loseResponse) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err == nil && req.Method == http.MethodPut && c.armed.CompareAndSwap(true, false) {
		resp.Body.Close()
		c.lost.Add(1)
		c.mu.Lock()
		then := c.then
		c.mu.Unlock()
		if then != nil {
			then()
		}
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

// TestRetriedWriteThatLanded: the SDK's retry of a conditional write whose
// first attempt landed meets its own success as a failed precondition. The
// driver cannot tell that from a refusal, so it reports
// ErrRetriedPrecondition (an unknown outcome), never ErrPrecondition, and
// blobstore resolves it by reading back: the checkpoint is acknowledged, not
// refused. When another host overwrote the record before the read-back, the
// Store says the outcome is unknown, never that the lease was lost.
func TestRetriedWriteThatLanded(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, time.Minute)
		name := newTestBucket(ctx, t, e)
		hc := &loseResponse{next: awshttp.NewBuildableClient()}

		t.Run("driver", func(t *testing.T) {
			b := newBucket(t, e, name, hc, nil)
			v, err := b.Put(ctx, "d.json", []byte(`{"n":1}`), driver.CreateOnly)
			if err != nil {
				t.Fatal(err)
			}
			hc.LoseNextWriteResponse()
			_, err = b.Put(ctx, "d.json", []byte(`{"n":2}`), v)
			if hc.lost.Load() != 1 {
				t.Fatalf("the fault was not injected")
			}
			wantErr(t, "CAS whose response was lost and whose retry met its own success", err, driver.ErrRetriedPrecondition)
			if errors.Is(err, driver.ErrPrecondition) {
				t.Fatalf("a retried 412 reported as a definite refusal: %v", err)
			}
			if obj := mustGet(ctx, t, b, "d.json"); string(obj.Data) != `{"n":2}` {
				t.Fatalf("the first attempt did not land: %s", obj.Data)
			}
			// A first attempt's 412 is still definite.
			_, err = b.Put(ctx, "d.json", []byte(`{"n":3}`), v)
			wantErr(t, "CAS on a stale version", err, driver.ErrPrecondition)
		})

		t.Run("store", func(t *testing.T) {
			conformance.RunLostWriteResponse(t, newBucket(t, e, name, hc, nil), hc)
		})

		t.Run("overwritten before the read-back", func(t *testing.T) {
			conformance.RunLostThenOverwritten(t, newBucket(t, e, name, hc, nil), newBucket(t, e, name, nil, nil), hc)
		})
	})
}

// TestHungHost: a host whose path to the store hangs stops processing
// before another host takes its partitions (hardening item 2).
func TestHungHost(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 2*time.Minute)
		name := newTestBucket(ctx, t, e)
		hc := &conformance.HangingTransport{}
		conformance.RunHungHost(t, newBucket(t, e, name, hc, nil), newBucket(t, e, name, nil, nil), hc)
	})
}
