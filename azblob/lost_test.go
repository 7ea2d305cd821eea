package azblob

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is a transport that, while armed, sends the next PUT to the
// service and then drops the answer.
type loseResponse struct {
	armed atomic.Bool
	lost  atomic.Int32
}

func (l *loseResponse) LoseNextWriteResponse() { l.armed.Store(true) }
func (l *loseResponse) Lost() int              { return int(l.lost.Load()) }

func (l *loseResponse) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && l.armed.CompareAndSwap(true, false) {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		l.lost.Add(1)
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
