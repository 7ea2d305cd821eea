package s3

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// loseResponse is an HTTP client that, while armed, sends the next PUT to
// the service and then drops the answer, failing as a connection reset after
// the request was sent does. The SDK treats that as retryable.
type loseResponse struct {
	next  *awshttp.BuildableClient
	armed atomic.Bool
	lost  atomic.Int32
}

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
			hc.lost.Store(0)
			s, err := blobstore.New(newBucket(t, e, name, hc, nil), &blobstore.Options{Prefix: "store/", Owner: "host-a"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateStoreIfNotExists(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateLeaseIfNotExists(ctx, "0"); err != nil {
				t.Fatal(err)
			}
			l, err := s.Acquire(ctx, "0")
			if err != nil {
				t.Fatal(err)
			}
			hc.armed.Store(true)
			if err := s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 7}); err != nil {
				t.Fatalf("UpdateCheckpoint whose response was lost: %v", err)
			}
			if hc.lost.Load() != 1 {
				t.Fatalf("the fault was not injected")
			}
			cp, found, err := s.GetCheckpoint(ctx, "0")
			if err != nil || !found || cp.Offset != "42" || cp.SequenceNumber != 7 {
				t.Fatalf("GetCheckpoint = %+v %v %v", cp, found, err)
			}
			// The store's next write needs no read: its version is current.
			if err := s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "43", SequenceNumber: 8}); err != nil {
				t.Fatalf("next UpdateCheckpoint: %v", err)
			}
		})
	})
}
