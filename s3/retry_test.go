package s3

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is an HTTP client that, while armed, sends the next PUT to
// the service and then drops the answer, failing as a connection reset after
// the request was sent does. The SDK treats that as retryable.
type loseResponse struct {
	next  *awshttp.BuildableClient
	armed atomic.Bool
	lost  atomic.Int32
}

func (c *loseResponse) LoseNextWriteResponse() { c.armed.Store(true) }
func (c *loseResponse) Lost() int              { return int(c.lost.Load()) }

func (c *loseResponse) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err == nil && req.Method == http.MethodPut && c.armed.CompareAndSwap(true, false) {
		resp.Body.Close()
		c.lost.Add(1)
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

// TestRetriedWriteThatLanded: the SDK's retry of a conditional write whose
// first attempt landed meets its own success as a failed precondition. The
// driver reports ErrPrecondition (it cannot know better), and blobstore
// resolves it by reading back: the checkpoint is acknowledged, not refused.
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
			hc.armed.Store(true)
			_, err = b.Put(ctx, "d.json", []byte(`{"n":2}`), v)
			if hc.lost.Load() != 1 {
				t.Fatalf("the fault was not injected")
			}
			wantErr(t, "CAS whose response was lost", err, driver.ErrPrecondition)
			if obj := mustGet(ctx, t, b, "d.json"); string(obj.Data) != `{"n":2}` {
				t.Fatalf("the first attempt did not land: %s", obj.Data)
			}
		})

		t.Run("store", func(t *testing.T) {
			conformance.RunLostWriteResponse(t, newBucket(t, e, name, hc, nil), hc)
		})
	})
}
