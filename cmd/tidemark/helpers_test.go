package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

func TestMain(m *testing.M) {
	// The tests name their stores explicitly; an operator's setting must
	// not leak into them.
	_ = os.Unsetenv(envStore)
	code := m.Run()
	cleanupBinary()
	os.Exit(code)
}

// testContext bounds a test.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// result is what one tidemark invocation produced.
type result struct {
	stdout, stderr string
	code           int
}

// tidemark runs the command line in-process.
func tidemark(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs the command line and fails the test unless it exits 0.
func mustRun(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	r := tidemark(ctx, t, args...)
	if r.code != 0 {
		t.Fatalf("tidemark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// wantFail checks an exit status and that stderr is exactly one line
// starting "tidemark: " and containing every one of wants.
func wantFail(t *testing.T, r result, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	checkErrorLine(t, r.stderr, wants...)
}

func checkErrorLine(t *testing.T, stderr string, wants ...string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "tidemark: ") || !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("stderr is not one line starting with \"tidemark: \": %q", stderr)
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not contain %q", stderr, w)
		}
	}
}

// newFileStoreURL returns the URL of a new file store (not yet created)
// under a prefix.
func newFileStoreURL(t *testing.T) string {
	t.Helper()
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(t.TempDir(), "ckpt")), RawQuery: "prefix=orders/billing/"}).String()
}

// openStore opens a Store on u as host owner, closed when the test ends.
func openTestStore(ctx context.Context, t *testing.T, u, owner string) *blobstore.Store {
	t.Helper()
	s, err := blobstore.Open(ctx, u, &blobstore.Options{Owner: owner})
	if err != nil {
		t.Fatalf("open %s: %v", redactURL(u), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seed creates the store with partitions 0..n-1, and sets the checkpoint of
// partition i to offset 1000*i, sequence 10*i.
func seed(ctx context.Context, t *testing.T, s *blobstore.Store, n int) {
	t.Helper()
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := itoa(i)
		if _, err := s.CreateLeaseIfNotExists(ctx, id); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		if _, err := s.SetCheckpoint(ctx, blobstore.Checkpoint{PartitionID: id, Offset: itoa(1000 * i), SequenceNumber: int64(10 * i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// hold makes host owner acquire partition id and returns its lease.
func hold(ctx context.Context, t *testing.T, u, owner, id string) (*blobstore.Store, blobstore.Lease) {
	t.Helper()
	s := openTestStore(ctx, t, u, owner)
	l, err := s.Acquire(ctx, id)
	if err != nil {
		t.Fatalf("%s acquires %s: %v", owner, id, err)
	}
	return s, l
}

// lsJSON runs ls -o json and decodes it.
func lsJSON(ctx context.Context, t *testing.T, u string) []leaseJSON {
	t.Helper()
	r := mustRun(ctx, t, "ls", "--store", u, "-o", "json")
	var out []leaseJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("ls -o json: %v\n%s", err, r.stdout)
	}
	return out
}

// byPartition indexes ls -o json output.
func byPartition(ls []leaseJSON) map[string]leaseJSON {
	m := map[string]leaseJSON{}
	for _, l := range ls {
		m[l.Partition] = l
	}
	return m
}

// getLease reads one partition through the API.
func getLease(ctx context.Context, t *testing.T, u, id string) blobstore.Lease {
	t.Helper()
	s := openTestStore(ctx, t, u, "checker")
	l, found, err := s.GetLease(ctx, id)
	if err != nil || !found {
		t.Fatalf("get %s: found %v, %v", id, found, err)
	}
	return l
}
