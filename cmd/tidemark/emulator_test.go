package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcstorage "cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/api/iterator"

	"github.com/tidemark/tidemark/blobstore"
)

// The emulator tests drive the built binary against MinIO (and against
// fake-gcs-server when it runs): start them with
//
//	bash scripts/emulators.sh start minio fake-gcs-server
//	eval "$(bash scripts/emulators.sh env)"
//
// Without an emulator its tests skip, unless TIDEMARK_REQUIRE_EMULATORS=1
// asks for a failure instead.
const envRequireEmulators = "TIDEMARK_REQUIRE_EMULATORS"

func skipOrFail(t *testing.T, format string, a ...any) {
	t.Helper()
	if os.Getenv(envRequireEmulators) == "1" {
		t.Fatalf(format+" and "+envRequireEmulators+"=1", a...)
	}
	t.Skipf(format, a...)
}

// reachable reports whether a TCP connection to host:port opens within a
// few seconds: scripts/emulators.sh env prints the settings of emulators
// that may not be running.
func reachable(hostport string) bool {
	c, err := net.DialTimeout("tcp", hostport, 3*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// minio is a MinIO endpoint and its keys.
type minio struct{ endpoint, accessKey, secretKey string }

func lookupMinIO(t *testing.T) minio {
	t.Helper()
	m := minio{os.Getenv("TIDEMARK_MINIO_ENDPOINT"), os.Getenv("TIDEMARK_MINIO_ACCESS_KEY"), os.Getenv("TIDEMARK_MINIO_SECRET_KEY")}
	if m.endpoint == "" {
		skipOrFail(t, "TIDEMARK_MINIO_ENDPOINT is not set (bash scripts/emulators.sh start minio; eval \"$(bash scripts/emulators.sh env)\")")
	}
	if !strings.Contains(m.endpoint, "://") {
		m.endpoint = "http://" + m.endpoint
	}
	if m.accessKey == "" || m.secretKey == "" {
		t.Fatal("TIDEMARK_MINIO_ENDPOINT is set but TIDEMARK_MINIO_ACCESS_KEY or _SECRET_KEY is not")
	}
	if u, err := url.Parse(m.endpoint); err != nil || !reachable(u.Host) {
		skipOrFail(t, "MinIO at TIDEMARK_MINIO_ENDPOINT=%s does not answer", m.endpoint)
	}
	return m
}

// env is the environment the binary needs for MinIO.
func (m minio) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + m.accessKey, "AWS_SECRET_ACCESS_KEY=" + m.secretKey, "AWS_EC2_METADATA_DISABLED=true"}
}

// setEnv gives this process the same credentials, for in-process stores.
func (m minio) setEnv(t *testing.T) {
	t.Helper()
	for _, kv := range m.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func (m minio) storeURL(bucket, prefix string) string {
	return "s3://" + bucket + "?endpoint=" + m.endpoint + "&use_path_style=true&region=us-east-1&prefix=" + prefix
}

func (m minio) client() *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.accessKey, m.secretKey, ""),
	})
}

// bucketName is a unique bucket name for the test.
func bucketName(t *testing.T) string {
	t.Helper()
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return "tm-cli-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(rnd[:])
}

// newMinIOBucket creates a bucket of the test's own, emptied and deleted
// when the test ends.
func newMinIOBucket(ctx context.Context, t *testing.T, m minio) string {
	t.Helper()
	name := bucketName(t)
	c := m.client()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(name)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Logf("cleanup: list %s: %v", name, err)
				return
			}
			for _, o := range page.Contents {
				if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key}); err != nil {
					t.Logf("cleanup: delete %s/%s: %v", name, aws.ToString(o.Key), err)
				}
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Logf("cleanup: delete bucket %s: %v", name, err)
		}
	})
	return name
}

// seedSource builds the group the round trips move: five partitions with
// checkpoints, one with metadata, one without a checkpoint, one held.
func seedSource(ctx context.Context, t *testing.T, u string) {
	t.Helper()
	s := openTestStore(ctx, t, u, "setup")
	seed(ctx, t, s, 5)
	host, lease := hold(ctx, t, u, "host-a", "2")
	if err := host.UpdateLease(ctx, lease, `{"context":"billing-α"}`); err != nil {
		t.Fatal(err)
	}
	if err := host.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCheckpoint(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	hold(ctx, t, u, "host-b", "3")
}

// roundTrip moves a file:// group into target with the binary, checks it
// arrived, and moves it back into a new file:// store.
func roundTrip(ctx context.Context, t *testing.T, env []string, target string) {
	t.Helper()
	src := newFileStoreURL(t)
	seedSource(ctx, t, src)
	file := filepath.Join(t.TempDir(), "group.json")
	exeOK(ctx, t, env, "export", "--store", src, "-f", file)

	r := exeOK(ctx, t, env, "import", "-f", file, "--store", target)
	if !strings.Contains(r.stdout, "Dry run: 5 of 5") {
		t.Errorf("import plan:\n%s", r.stdout)
	}
	exeOK(ctx, t, env, "import", "-f", file, "--store", target, "--execute")
	moved := lsJSON(ctx, t, target)
	compareGroups(t, lsJSON(ctx, t, src), moved)

	back := newFileStoreURL(t)
	r = exeOK(ctx, t, env, "export", "--store", target)
	if strings.Contains(r.stdout, "secret") || !strings.Contains(r.stdout, `"source": "`) {
		t.Errorf("export from the emulator:\n%s", r.stdout)
	}
	exeOK(ctx, t, env, "import", "-f", file, "--store", back, "--execute")
	compareGroups(t, moved, lsJSON(ctx, t, back))
}

func TestMinIO(t *testing.T) {
	m := lookupMinIO(t)
	m.setEnv(t) // for the in-process stores and ls -o json
	env := m.env()

	t.Run("round trip from file to s3 and back", func(t *testing.T) {
		ctx := testContext(t, 3*time.Minute)
		roundTrip(ctx, t, env, m.storeURL(newMinIOBucket(ctx, t, m), "orders/billing/"))
	})

	t.Run("operate", func(t *testing.T) {
		ctx := testContext(t, 3*time.Minute)
		u := m.storeURL(newMinIOBucket(ctx, t, m), "g/")
		wantFail(t, exe(ctx, t, env, "ls", "--store", u), exitFailure, "store not found", "tidemark init")
		exeOK(ctx, t, env, "init", "--store", u, "--partitions", "3")
		exeOK(ctx, t, env, "set", "1", "--store", u, "--offset", "4096", "--sequence", "57", "--execute")
		host, lease := hold(ctx, t, u, "host-a", "1")

		r := exe(ctx, t, env, "rewind", "--all", "--to-start", "--store", u, "--execute")
		wantFail(t, r, exitFailure, "1 of 3 partitions were not changed")
		if err := host.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: "5000", SequenceNumber: 60}); err != nil {
			t.Fatalf("the refused rewind disturbed the owner: %v", err)
		}
		r = exeOK(ctx, t, env, "rewind", "1", "--to-sequence", "10", "--offset", "700", "--store", u, "--execute", "--force")
		if !strings.Contains(r.stdout, "host-a fenced, epoch now 2") {
			t.Errorf("forced rewind:\n%s", r.stdout)
		}
		err := host.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: "6000", SequenceNumber: 70})
		if !errors.Is(err, blobstore.ErrLeaseLost) {
			t.Fatalf("the fenced owner's checkpoint: %v, want ErrLeaseLost", err)
		}
		got := byPartition(lsJSON(ctx, t, u))["1"]
		if got.Checkpoint.off() != "700" || got.Checkpoint.seq() != 10 || got.Owner != "" || got.Epoch != 2 {
			t.Errorf("after the forced rewind: %+v", got)
		}

		r = exeOK(ctx, t, env, "watch", "--store", u, "--count", "2", "--interval", "50ms")
		if strings.Count(r.stdout, "Every 50ms") != 2 {
			t.Errorf("watch:\n%s", r.stdout)
		}
		exeOK(ctx, t, env, "release", "1", "--store", u)
		exeOK(ctx, t, env, "rm", "2", "--store", u)
		if n := len(lsJSON(ctx, t, u)); n != 2 {
			t.Errorf("%d partitions after rm, want 2", n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		ctx := testContext(t, 3*time.Minute)
		u := m.storeURL(newMinIOBucket(ctx, t, m), "g/")
		exeOK(ctx, t, env, "init", "--store", u)

		const wrong = "wrong-secret-key-4242"
		r := exe(ctx, t, []string{"AWS_ACCESS_KEY_ID=" + m.accessKey, "AWS_SECRET_ACCESS_KEY=" + wrong, "AWS_EC2_METADATA_DISABLED=true"}, "ls", "--store", u)
		wantFail(t, r, exitFailure, "permission denied")
		if strings.Contains(r.stdout+r.stderr, wrong) || strings.Contains(r.stdout+r.stderr, m.secretKey) {
			t.Errorf("a secret was printed: %s", r.stderr)
		}
		wantFail(t, exe(ctx, t, env, "ls", "--store", m.storeURL("tm-cli-no-such-bucket", "g/")), exitFailure, "store not found")
	})
}

func TestFakeGCS(t *testing.T) {
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	if host == "" {
		skipOrFail(t, "STORAGE_EMULATOR_HOST is not set (bash scripts/emulators.sh start fake-gcs-server; eval \"$(bash scripts/emulators.sh env)\")")
	}
	if !reachable(host) {
		skipOrFail(t, "fake-gcs-server at STORAGE_EMULATOR_HOST=%s does not answer", host)
	}
	ctx := testContext(t, 3*time.Minute)
	c, err := gcstorage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	name := bucketName(t)
	if err := c.Bucket(name).Create(ctx, "tidemark-test", nil); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		it := c.Bucket(name).Objects(ctx, nil)
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				t.Logf("cleanup: list %s: %v", name, err)
				return
			}
			_ = c.Bucket(name).Object(a.Name).Delete(ctx)
		}
		_ = c.Bucket(name).Delete(ctx)
	})
	roundTrip(ctx, t, nil, "gs://"+name+"?prefix=orders/billing/")
}
