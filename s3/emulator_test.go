package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The tests run against MinIO and versitygw (scripts/emulators.sh start minio
// versitygw, then eval "$(scripts/emulators.sh env)"), each as a subtest.
// Without an emulator its subtests skip, unless TIDEMARK_REQUIRE_EMULATORS=1
// asks for a failure instead.
const envRequire = "TIDEMARK_REQUIRE_EMULATORS"

// emulator is one S3-compatible service to test against.
type emulator struct {
	name      string
	endpoint  string // with scheme, e.g. http://127.0.0.1:9000
	accessKey string
	secretKey string
}

// emulatorNames and the prefix of their environment variables
// (<PREFIX>_ENDPOINT, _ACCESS_KEY, _SECRET_KEY).
// LocalStack cannot run natively here: it is tested only through
// docker-compose.yml (make test-compose), and never required.
var emulatorNames = []struct{ name, env string }{
	{"minio", "TIDEMARK_MINIO"},
	{"versitygw", "TIDEMARK_VERSITYGW"},
	{"localstack", "TIDEMARK_LOCALSTACK"},
}

// forEachEmulator runs f as one subtest per emulator.
func forEachEmulator(t *testing.T, f func(t *testing.T, e emulator)) {
	t.Helper()
	for _, n := range emulatorNames {
		if n.name == "localstack" && os.Getenv(n.env+"_ENDPOINT") == "" {
			continue // only under Docker (make test-compose)
		}
		t.Run(n.name, func(t *testing.T) {
			f(t, lookupEmulator(t, n.name, n.env))
		})
	}
}

// lookupEmulator reads an emulator's settings or skips (or fails) the test.
func lookupEmulator(tb testing.TB, name, env string) emulator {
	tb.Helper()
	e := emulator{
		name:      name,
		endpoint:  os.Getenv(env + "_ENDPOINT"),
		accessKey: os.Getenv(env + "_ACCESS_KEY"),
		secretKey: os.Getenv(env + "_SECRET_KEY"),
	}
	if e.endpoint == "" && name == "localstack" {
		tb.Skipf("%s_ENDPOINT is not set: LocalStack runs only under Docker (make test-compose)", env)
	}
	if e.endpoint == "" {
		if os.Getenv(envRequire) == "1" {
			tb.Fatalf("%s_ENDPOINT is not set and %s=1: start %s (scripts/emulators.sh start %s) and eval \"$(scripts/emulators.sh env)\"",
				env, envRequire, name, name)
		}
		tb.Skipf("%s_ENDPOINT is not set: start %s with scripts/emulators.sh to run the S3 tests on it", env, name)
	}
	if !strings.Contains(e.endpoint, "://") {
		e.endpoint = "http://" + e.endpoint
	}
	if e.accessKey == "" || e.secretKey == "" {
		tb.Fatalf("%s_ENDPOINT is set but %s_ACCESS_KEY or %s_SECRET_KEY is not", env, env, env)
	}
	return e
}

// testContext bounds every test.
func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// counter is an HTTP client that counts the requests the SDK sends.
type counter struct {
	n    atomic.Int64
	next awss3.HTTPClient
}

func newCounter() *counter { return &counter{next: awshttp.NewBuildableClient()} }

func (c *counter) Do(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(req)
}

// client returns a new SDK client for the emulator, with its own HTTP
// connections, as another process would have. httpClient may be nil.
func (e emulator) client(httpClient awss3.HTTPClient) *awss3.Client {
	return e.clientWithKeys(e.accessKey, e.secretKey, httpClient)
}

func (e emulator) clientWithKeys(accessKey, secretKey string, httpClient awss3.HTTPClient) *awss3.Client {
	if httpClient == nil {
		httpClient = awshttp.NewBuildableClient()
	}
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:   httpClient,
	})
}

// bucketName makes a valid, unique S3 bucket name (3-63 characters of
// [a-z0-9-]) from the test's name.
func bucketName(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("tm-")
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 45 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if !strings.HasSuffix(b.String(), "-") {
		b.WriteByte('-')
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// newTestBucket creates a bucket of the test's own on e and empties and
// deletes it when the test ends.
func newTestBucket(ctx context.Context, tb testing.TB, e emulator) string {
	tb.Helper()
	name := bucketName(tb)
	c := e.client(nil)
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("%s: create bucket %s: %v", e.name, name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := emptyBucket(ctx, c, name); err != nil {
			tb.Logf("%s: empty bucket %s: %v", e.name, name, err)
			return
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			tb.Logf("%s: delete bucket %s: %v", e.name, name, err)
		}
	})
	return name
}

func emptyBucket(ctx context.Context, c *awss3.Client, name string) error {
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		out, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: aws.String(name),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return errors.New(aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}

// newBucket opens the driver on bucket name of e, over a client of its own.
func newBucket(tb testing.TB, e emulator, name string, httpClient awss3.HTTPClient, opts *Options) *bucket {
	tb.Helper()
	b, err := openBucket(e.client(httpClient), name, opts)
	if err != nil {
		tb.Fatalf("openBucket: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}
