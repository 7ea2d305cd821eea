package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
)

// smallPages is a membucket whose listings return two keys a page (its page
// token is the last key returned, so a shorter page continues correctly).
type smallPages struct{ *membucket.Bucket }

func (b smallPages) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	entries, next, err := b.Bucket.List(ctx, prefix, token)
	if err != nil || len(entries) <= 2 {
		return entries, next, err
	}
	return entries[:2], entries[1].Key, nil
}

func TestDeleteStoreDeletesEveryHostPage(t *testing.T) {
	ctx := testCtx(t)
	bkt := membucket.New()
	var hosts []*blobstore.Store
	for i := range 5 {
		s, err := blobstore.New(smallPages{bkt}, &blobstore.Options{Prefix: "p/", Owner: fmt.Sprintf("host-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateStoreIfNotExists(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, s)
	}
	if err := hosts[0].DeleteStore(ctx); err != nil {
		t.Fatal(err)
	}
	left, _, err := bkt.List(ctx, "p/", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("DeleteStore left %v", left)
	}
}

// failingBucket fails every Put with putErr and every Get with getErr.
type failingBucket struct {
	*membucket.Bucket
	putErr, getErr error
}

func (b failingBucket) Put(context.Context, string, []byte, string) (string, error) {
	return "", b.putErr
}

func (b failingBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.getErr != nil {
		return driver.Object{}, b.getErr
	}
	return b.Bucket.Get(ctx, key)
}

func TestHeartbeatReportsTheReadBackFailure(t *testing.T) {
	ctx := testCtx(t)
	putErr := errors.New("write: connection reset")
	getErr := errors.New("read-back: i/o timeout")
	s, err := blobstore.New(failingBucket{Bucket: membucket.New(), putErr: putErr, getErr: getErr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Heartbeat(ctx)
	if !errors.Is(err, blobstore.ErrUnavailable) || !errors.Is(err, getErr) || !errors.Is(err, putErr) {
		t.Fatalf("Heartbeat = %v, want ErrUnavailable wrapping both the write's and the read-back's errors", err)
	}
	if !strings.Contains(err.Error(), "read-back: i/o timeout") {
		t.Fatalf("Heartbeat's error does not say the read-back failed: %v", err)
	}
}
