package s3

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// oneLine fails unless msg is a single line that contains every want.
func oneLine(t *testing.T, msg string, want ...string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message spans lines:\n%s", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

// keyOnce fails unless err's message is one line that names the operation
// and the key together, once, as blobstore does, and names the key nowhere
// else: the driver must not repeat either.
func keyOnce(t *testing.T, err error, op, key string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s %q: no error", op, key)
	}
	msg := err.Error()
	oneLine(t, msg, op+" "+strconv.Quote(key)+": ")
	if n := strings.Count(msg, key); n != 1 {
		t.Errorf("message names %q %d times, want once: %s", key, n, msg)
	}
	if strings.Contains(msg, "s3: "+op) {
		t.Errorf("the driver names the operation too: %s", msg)
	}
}

// TestStoreMessagesNameKeyOnce: an error from a Store over this driver names
// the operation and the key once (blobstore adds them; the driver gives its
// sentinel and the service's answer), keeps the classification and the SDK
// error, and is one line.
func TestStoreMessagesNameKeyOnce(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, time.Minute)
		name := newTestBucket(ctx, t, e)
		const prefix = "msg/"
		good, err := blobstore.New(newBucket(t, e, name, nil, nil), &blobstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer good.Close()
		if err := good.CreateStoreIfNotExists(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := good.CreateLeaseIfNotExists(ctx, "7"); err != nil {
			t.Fatal(err)
		}
		// The record's key, as the Store wrote it.
		entries, _, err := newBucket(t, e, name, nil, nil).List(ctx, prefix+"7", "")
		if err != nil || len(entries) != 1 {
			t.Fatalf("the record of partition 7: %v %v", entries, err)
		}
		key := entries[0].Key

		// Wrong credentials: every request is refused (403 on both).
		bad, err := blobstore.New(mustOpen(t, e.clientWithKeys(e.accessKey, e.secretKey+"x", nil), name),
			&blobstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		_, _, err = bad.ReadRecordBytes(ctx, "7")
		if !errors.Is(err, blobstore.ErrPermission) {
			t.Fatalf("ReadRecordBytes with a wrong secret: %v, want ErrPermission", err)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("the SDK error is not reachable: %v", err)
		}
		keyOnce(t, err, "get", key)
		oneLine(t, err.Error(), "permission denied: HTTP 403 ")
		if strings.Contains(err.Error(), "RequestID") {
			t.Errorf("message carries the SDK's ids: %v", err)
		}
		t.Logf("%v", err)

		// A missing bucket, read and written.
		missing, err := blobstore.New(newBucket(t, e, bucketName(t), nil, nil), &blobstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer missing.Close()
		_, _, err = missing.ReadRecordBytes(ctx, "7")
		if !errors.Is(err, blobstore.ErrStoreNotFound) {
			t.Fatalf("ReadRecordBytes on a missing bucket: %v, want ErrStoreNotFound", err)
		}
		keyOnce(t, err, "get", key)
		oneLine(t, err.Error(), "bucket not found: HTTP 404 NoSuchBucket")
		t.Logf("%v", err)
	})
}

// mustOpen opens the driver on bucket name over client.
func mustOpen(t *testing.T, client *awss3.Client, name string) *bucket {
	t.Helper()
	b, err := openBucket(client, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestEndpointWithoutScheme: an endpoint the SDK cannot send to is refused
// when the URL is opened, as an invalid URL, instead of failing every request
// as if the service were unreachable.
func TestEndpointWithoutScheme(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	for _, tc := range []struct{ name, endpoint string }{
		{"ip-and-port", "127.0.0.1:9000"},
		{"localhost-and-port", "localhost:9000"},
		{"dotted-host-and-port", "minio.internal:9000"},
		{"host-only", "minio"},
		{"other-scheme", "ftp://127.0.0.1:9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "s3://tm-bucket?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(tc.endpoint)
			s, err := blobstore.Open(ctx, raw, nil)
			if err == nil {
				s.Close()
				t.Fatalf("blobstore.Open(%s) succeeded; want it refused", raw)
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			oneLine(t, err.Error(), tc.endpoint, "http://")
			t.Logf("%v", err)
		})
	}
	// OpenBucket checks the client it is given in the same way.
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String("127.0.0.1:9000")})
	if _, err := OpenBucket(ctx, c, "tm-bucket", nil); err == nil {
		t.Error("OpenBucket with a client whose endpoint has no scheme succeeded")
	}
}

// TestVirtualHostedDNSHint: with a custom endpoint and no use_path_style, the
// SDK addresses the bucket as <bucket>.<endpoint host>, which does not
// resolve; the error says to set use_path_style=true. The same URL with it
// set works, and an unrelated DNS failure gets no such hint.
func TestVirtualHostedDNSHint(t *testing.T) {
	const hint = "set use_path_style=true for MinIO and other S3-compatible servers"
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, time.Minute)
		name := newTestBucket(ctx, t, e)
		t.Setenv("AWS_ACCESS_KEY_ID", e.accessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", e.secretKey)
		for _, tc := range []struct {
			name     string
			query    url.Values
			wantHint bool // false: no error at all, or one without the hint
			wantOK   bool
		}{
			{"virtual-hosted", url.Values{"endpoint": {e.endpoint}, "region": {"us-east-1"}}, true, false},
			{"path-style", url.Values{"endpoint": {e.endpoint}, "region": {"us-east-1"}, "use_path_style": {"true"}}, false, true},
			{"unresolvable-endpoint", url.Values{"endpoint": {"http://tidemark-no-such-host.invalid:9000"}, "region": {"us-east-1"}, "use_path_style": {"true"}}, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := &url.URL{Scheme: Scheme, Host: name, RawQuery: tc.query.Encode()}
				d, err := new(URLOpener).OpenBucketURL(ctx, u)
				if err != nil {
					t.Fatalf("OpenBucketURL(%s): %v", u, err)
				}
				defer d.Close()
				_, _, err = d.List(ctx, "", "")
				switch {
				case tc.wantOK:
					if err != nil {
						t.Fatalf("List: %v", err)
					}
					return
				case err == nil:
					t.Fatal("List succeeded; want a DNS failure")
				}
				for _, s := range sentinels {
					if errors.Is(err, s) {
						t.Errorf("a DNS failure is classified as %v: %v", s, err)
					}
				}
				if got := strings.Contains(err.Error(), hint); got != tc.wantHint {
					t.Errorf("hint present = %v, want %v: %v", got, tc.wantHint, err)
				}
				oneLine(t, err.Error(), "no such host")
				t.Logf("%v", err)
			})
		}
	})
}

// TestInvalidBucketName: a bucket name the service refuses (400
// InvalidBucketName) says so and gives the naming rule, on one line, and is
// not mistaken for a missing bucket or object. The name is still sent: AWS
// keeps serving legacy us-east-1 buckets with upper case and underscores.
func TestInvalidBucketName(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		for _, name := range []string{"Tidemark_Bad_Name", "tm..double-dot"} {
			t.Run(name, func(t *testing.T) {
				b := newBucket(t, e, name, nil, nil)
				ops := []struct {
					name string
					fn   func() error
				}{
					{"Get", func() error { _, err := b.Get(ctx, "k.json"); return err }},
					{"Put", func() error { _, err := b.Put(ctx, "k.json", []byte(`{}`), driver.CreateOnly); return err }},
					{"List", func() error { _, _, err := b.List(ctx, "", ""); return err }},
				}
				for _, op := range ops {
					err := op.fn()
					if err == nil {
						t.Fatalf("%s on bucket %q succeeded", op.name, name)
					}
					var ae smithy.APIError
					if !errors.As(err, &ae) {
						t.Fatalf("%s: no service answer: %v", op.name, err)
					}
					if ae.ErrorCode() != "InvalidBucketName" {
						t.Skipf("%s answers %s for bucket %q, not InvalidBucketName: %v", e.name, ae.ErrorCode(), name, err)
					}
					for _, s := range []error{driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPrecondition} {
						if errors.Is(err, s) {
							t.Errorf("%s: classified as %v: %v", op.name, s, err)
						}
					}
					if !errors.Is(err, driver.ErrInvalidArgument) {
						t.Errorf("%s: not classified as invalid argument (a configuration mistake, not an outage): %v", op.name, err)
					}
					if strings.Contains(err.Error(), "RequestID") || !strings.Contains(err.Error(), "HTTP 400 InvalidBucketName: ") {
						t.Errorf("%s: want the status, code and message without the SDK's ids: %v", op.name, err)
					}
					oneLine(t, err.Error(), "InvalidBucketName", `refuses the bucket name "`+name+`"`, "lowercase letters, digits, dots and hyphens")
					if strings.Contains(err.Error(), "k.json") {
						t.Errorf("%s: the driver names the key (blobstore does): %v", op.name, err)
					}
					t.Logf("%s: %v", op.name, err)
				}
				// Through blobstore: the key once, and an invalid URL.
				s, err := blobstore.New(b, &blobstore.Options{Prefix: "msg/"})
				if err != nil {
					t.Fatal(err)
				}
				_, _, err = s.ReadRecordBytes(ctx, "7")
				if !errors.Is(err, blobstore.ErrInvalidURL) {
					t.Errorf("Store: %v, want ErrInvalidURL", err)
				}
				keyOnce(t, err, "get", "msg/7.json")
			})
		}
	})
}

// TestDNSHintNeedsCustomEndpoint: the hint is given only when the failed host
// is the bucket under the client's own custom endpoint.
func TestDNSHintNeedsCustomEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint *string
		wantHint bool
	}{
		{"custom-endpoint", aws.String("http://tidemark-nowhere.invalid:9000"), true},
		{"aws-endpoint", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := awss3.New(awss3.Options{
				Region:       "us-east-1",
				BaseEndpoint: tc.endpoint,
				Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
			})
			b, err := openBucket(c, "tm-bucket", &Options{MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			host := "tm-bucket.tidemark-nowhere.invalid"
			if tc.endpoint == nil {
				host = "tm-bucket.s3.us-east-1.amazonaws.com"
			}
			err = b.wrapError(&smithy.OperationError{ServiceID: "S3", OperationName: "GetObject",
				Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}})
			if got := strings.Contains(err.Error(), "use_path_style=true"); got != tc.wantHint {
				t.Errorf("hint present = %v, want %v: %v", got, tc.wantHint, err)
			}
		})
	}
}
