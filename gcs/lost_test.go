package gcs

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is a transport that, while armed, sends the next upload to the
// service and then drops the answer.
type loseResponse struct {
	next  http.RoundTripper
	armed atomic.Bool
	lost  atomic.Int32
}

func (l *loseResponse) LoseNextWriteResponse() { l.armed.Store(true) }
func (l *loseResponse) Lost() int              { return int(l.lost.Load()) }

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

func TestLostResponseAtTransport(t *testing.T) {
	lr := &loseResponse{next: http.DefaultTransport}
	c := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: lr}))
	drv, err := OpenBucket(testCtx(t), c, newBucket(testCtx(t), t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunLostWriteResponse(t, drv, lr)
}
