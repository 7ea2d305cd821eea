package gcs

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// loseResponse is a transport that, while armed, sends the next upload to the
// service and then drops the answer.
type loseResponse struct {
	next  http.RoundTripper
	armed atomic.Bool
	lost  atomic.Int32

	mu   sync.Mutex
	then func() // runs after the write landed, before its failure is returned
}

func (l *loseResponse) LoseNextWriteResponse() { l.LoseNextWriteResponseThen(nil) }
func (l *loseResponse) Lost() int              { return int(l.lost.Load()) }

func (l *loseResponse) LoseNextWriteResponseThen(then func()) {
	l.mu.Lock()
	l.then = then
	l.mu.Unlock()
	l.armed.Store(true)
}

func (l *loseResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && strings.Contains(req.URL.Path, "/upload/") && l.armed.CompareAndSwap(true, false) {
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
	lr := &loseResponse{next: http.DefaultTransport}
	c := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: lr}))
	drv, err := OpenBucket(testCtx(t), c, newBucket(testCtx(t), t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunLostWriteResponse(t, drv, lr)
}

// twoHosts opens two drivers on one new bucket: the first over transport,
// the second over the default one.
func twoHosts(t *testing.T, transport http.RoundTripper) (a, b driver.Bucket) {
	t.Helper()
	ca := emulatorClient(t, option.WithHTTPClient(&http.Client{Transport: transport}))
	name := newBucket(testCtx(t), t, ca)
	a, err := OpenBucket(testCtx(t), ca, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = OpenBucket(testCtx(t), emulatorClient(t), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// A write that landed, lost its response, and was overwritten by another
// host before the read-back is an unknown outcome, never a refusal
// (hardening item 1).
func TestLostThenOverwritten(t *testing.T) {
	lr := &loseResponse{next: http.DefaultTransport}
	a, b := twoHosts(t, lr)
	conformance.RunLostThenOverwritten(t, a, b, lr)
}

// A host whose path to the store hangs stops processing before another host
// takes its partitions (hardening item 2).
func TestHungHost(t *testing.T) {
	ht := &conformance.HangingTransport{}
	a, b := twoHosts(t, ht)
	conformance.RunHungHost(t, a, b, ht)
}
