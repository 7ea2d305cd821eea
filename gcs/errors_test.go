package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// TestWrapErr feeds the mapping function the error values the storage client
// produces. fake-gcs-server has no authentication, so 401 and 403 can only be
// tested this way: the *googleapi.Error values below are what the client
// returns for those answers (fault injection of a value, not a mock server).
func TestWrapErr(t *testing.T) {
	apiErr := func(code int) *googleapi.Error {
		return &googleapi.Error{Code: code, Message: http.StatusText(code)}
	}
	// The shapes the storage client wraps them in (storage.go formatObjectErr,
	// formatBucketError, and invoke.go's retry limit).
	objectNotFound := fmt.Errorf("%w: %w", gcstorage.ErrObjectNotExist, apiErr(404))
	bucketNotFound := fmt.Errorf("%w: %w", gcstorage.ErrBucketNotExist, apiErr(404))
	retried := func(err error) error {
		return fmt.Errorf("storage: retry failed after 3 attempts; last error: %w", err)
	}

	tests := []struct {
		name string
		op   op
		err  error
		want error // nil: no sentinel, outcome unknown
	}{
		{"412 on put", opPut, apiErr(412), driver.ErrPrecondition},
		{"412 on delete", opDelete, apiErr(412), driver.ErrPrecondition},
		{"400 invalid bucket name", opList, &googleapi.Error{Code: 400, Message: "Invalid bucket name: 'Bad_Name'"}, driver.ErrInvalidArgument},
		{"400 not about the bucket", opPut, &googleapi.Error{Code: 400, Message: "Invalid argument."}, nil},
		{"403 on get", opGet, apiErr(403), driver.ErrPermission},
		{"403 on put", opPut, apiErr(403), driver.ErrPermission},
		{"403 on list", opList, apiErr(403), driver.ErrPermission},
		{"403 after retries", opGet, retried(apiErr(403)), driver.ErrPermission},
		{"401 on get", opGet, apiErr(401), driver.ErrPermission},
		{"401 on put", opPut, apiErr(401), driver.ErrPermission},
		{"object missing on get (XML read)", opGet, gcstorage.ErrObjectNotExist, driver.ErrNotFound},
		{"object missing on get (JSON read)", opGet, objectNotFound, driver.ErrNotFound},
		{"bucket missing on list", opList, bucketNotFound, driver.ErrBucketNotFound},
		{"bucket missing after retries", opList, retried(bucketNotFound), driver.ErrBucketNotFound},
		{"404 on put is the bucket", opPut, apiErr(404), driver.ErrBucketNotFound},
		{"404 on delete", opDelete, objectNotFound, driver.ErrNotFound},
		{"bucket missing on get", opGet, bucketNotFound, driver.ErrBucketNotFound},
		{"bare 404 on get", opGet, apiErr(404), driver.ErrNotFound},
		{"429", opPut, apiErr(429), nil},
		{"503", opGet, retried(apiErr(503)), nil},
		{"409", opPut, apiErr(409), nil},
		{"deadline", opPut, context.DeadlineExceeded, nil},
		{"transport", opGet, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapErr(tt.op, tt.err)
			if got == nil {
				t.Fatal("wrapErr returned nil")
			}
			for _, s := range sentinels {
				if is := errors.Is(got, s); is != (s == tt.want) { //nolint:errorlint // comparing sentinel identities
					t.Errorf("errors.Is(%v, %v) = %v", got, s, is)
				}
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the storage client's error is not wrapped: %v", got)
			}
			var want *googleapi.Error
			if errors.As(tt.err, &want) {
				var ge *googleapi.Error
				if !errors.As(got, &ge) || ge != want {
					t.Errorf("errors.As(*googleapi.Error) lost the SDK error: %v", got)
				}
			}
			// Wrapped once, with the sentinel and the SDK error and nothing
			// else: no operation, bucket or key (the Store adds the operation
			// and the key), and an unclassified error is the SDK's own.
			wantMsg := tt.err.Error()
			if tt.want != nil {
				wantMsg = tt.want.Error() + ": " + wantMsg
			}
			if got.Error() != wantMsg {
				t.Errorf("message %q, want %q", got, wantMsg)
			}
			if tt.want == nil && got != tt.err { //nolint:errorlint // the very value
				t.Errorf("an unclassified error is not returned as the SDK error: %#v", got)
			}
		})
	}

	if wrapErr(opGet, nil) != nil {
		t.Error("wrapErr(nil) != nil")
	}
	// Permission never reads as "no checkpoint".
	if err := wrapErr(opGet, apiErr(403)); errors.Is(err, driver.ErrNotFound) {
		t.Errorf("403 maps to ErrNotFound: %v", err)
	}
}

// forbiddenTransport answers every request as Cloud Storage answers a caller
// without the permission, without sending it anywhere (fault injection at
// the transport: the storage client parses the answer as it would the
// service's). fake-gcs-server has no authentication to refuse with.
type forbiddenTransport struct{}

const forbiddenBody = `{"error":{"code":403,"message":"tm-test@example.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).","errors":[{"message":"denied","domain":"global","reason":"forbidden"}]}}`

func (forbiddenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusForbidden,
		Status:     "403 Forbidden",
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json; charset=UTF-8"}},
		Body:          io.NopCloser(strings.NewReader(forbiddenBody)),
		ContentLength: int64(len(forbiddenBody)),
		Request:       r,
	}, nil
}

// storeMessageNamesKeyOnce checks a Store-level error's message: it names the
// operation and the key, and the key exactly once (the driver adds neither).
func storeMessageNamesKeyOnce(t *testing.T, err error, op, key string) {
	t.Helper()
	msg := err.Error()
	t.Logf("Store error: %s", msg)
	if n := strings.Count(msg, key); n != 1 {
		t.Errorf("message %q names the key %q %d times, want exactly once", msg, key, n)
	}
	if want := fmt.Sprintf("%s %q: ", op, key); !strings.Contains(msg, want) {
		t.Errorf("message %q does not contain %q", msg, want)
	}
}

// TestPermissionMessages needs no emulator: every operation meets an HTTP 403
// through the whole storage client, and the driver reports ErrPermission with
// the SDK error and without the key; the Store names the key once.
func TestPermissionMessages(t *testing.T) {
	ctx := testCtx(t)
	c, err := gcstorage.NewClient(ctx,
		option.WithEndpoint("http://127.0.0.1:1/storage/v1/"),
		option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: forbiddenTransport{}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	b, err := OpenBucket(ctx, c, "tm-forbidden", nil)
	if err != nil {
		t.Fatal(err)
	}

	const key = "tm/part-q7z.json"
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, key); return err }},
		{"Put create-only", func() error { _, err := b.Put(ctx, key, []byte(`{}`), driver.CreateOnly); return err }},
		{"Put CAS", func() error { _, err := b.Put(ctx, key, []byte(`{}`), "42"); return err }},
		{"Delete", func() error { return b.Delete(ctx, key) }},
		{"List", func() error { _, _, err := b.List(ctx, "tm/", ""); return err }},
	}
	for _, op := range ops {
		err := op.fn()
		t.Logf("%s: %v", op.name, err)
		if !errors.Is(err, driver.ErrPermission) || errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s: %v, want ErrPermission (and never ErrNotFound)", op.name, err)
			continue
		}
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != http.StatusForbidden {
			t.Errorf("%s: errors.As(*googleapi.Error) = %v, want the 403", op.name, ge)
			continue
		}
		if want := driver.ErrPermission.Error() + ": " + ge.Error(); err.Error() != want {
			t.Errorf("%s: message %q, want %q", op.name, err, want)
		}
		if strings.Contains(err.Error(), "part-q7z") {
			t.Errorf("%s: the driver's message %q names the key", op.name, err)
		}
	}

	s, err := blobstore.New(b, &blobstore.Options{Prefix: "tm"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.GetLease(ctx, "part-q7z")
	if !errors.Is(err, blobstore.ErrPermission) {
		t.Fatalf("Store.GetLease: %v, want ErrPermission", err)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusForbidden {
		t.Errorf("Store.GetLease: the SDK error is not reachable: %v", err)
	}
	storeMessageNamesKeyOnce(t, err, "get", key)
}
