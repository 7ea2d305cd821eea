package gcs

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore"
)

// loseResponse is a transport that, while armed, sends the next upload to the
// service and then drops the answer, as a connection reset after the request
// was sent does.
type loseResponse struct {
	next  http.RoundTripper
	armed atomic.Bool
	lost  atomic.Int32
}

func (l *loseResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && strings.Contains(req.URL.Path, "/upload/") && l.armed.CompareAndSwap(true, false) {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		l.lost.Add(1)
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

// A checkpoint whose write landed but whose response was lost on the wire is
// acknowledged (the store reads back and finds its own bytes), and the next
// write is one request again.
func TestLostResponseAtTransport(t *testing.T) {
	ctx := testCtx(t)
	lr := &loseResponse{next: http.DefaultTransport}
	c := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: lr}))
	name := newBucket(ctx, t, c)
	drv, err := OpenBucket(ctx, c, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := blobstore.New(drv, &blobstore.Options{Prefix: "store/", Owner: "host-a"})
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
	lr.armed.Store(true)
	if err := s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 7}); err != nil {
		t.Fatalf("UpdateCheckpoint whose response was lost: %v", err)
	}
	if lr.lost.Load() != 1 {
		t.Fatal("the fault was not injected")
	}
	cp, found, err := s.GetCheckpoint(ctx, "0")
	if err != nil || !found || cp.Offset != "42" || cp.SequenceNumber != 7 {
		t.Fatalf("GetCheckpoint = %+v %v %v", cp, found, err)
	}
	if err := s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{Offset: "43", SequenceNumber: 8}); err != nil {
		t.Fatalf("next UpdateCheckpoint: %v", err)
	}
}
