package kinesis_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exampleRun is one run of the compiled examples/kinesis program.
type exampleRun struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func startExample(ctx context.Context, t *testing.T, bin string, e env, stream, storeURL string) *exampleRun {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "-stream", stream, "-endpoint", e.kinesis, "-store", storeURL, "-name", "example")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.minioKey, "AWS_SECRET_ACCESS_KEY="+e.minioSecret, "AWS_REGION=us-east-1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	r := &exampleRun{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *exampleRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// stop sends SIGINT and waits for a clean exit.
func (r *exampleRun) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("example exited with %v after SIGINT; output:\n%s", err, r.output())
	}
}

// TestExampleProgram builds examples/kinesis and runs it as a user would:
// it prints the stream's records, stops gracefully on SIGINT with its
// checkpoints written, and a second run resumes after them.
func TestExampleProgram(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, 3*time.Minute)
	bin := filepath.Join(t.TempDir(), "kinesis-example")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../examples/kinesis")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../examples/kinesis: %v\n%s", err, out)
	}
	stream := e.createStream(ctx, t, 2)
	bucket := e.newBucket(ctx, t)
	storeURL := fmt.Sprintf("s3://%s?endpoint=%s&use_path_style=true&region=us-east-1&prefix=example/", bucket, e.minio)
	e.put(ctx, t, stream, "first", 3)

	run := startExample(ctx, t, bin, e, stream, storeURL)
	if !waitFor(30*time.Second, func() bool { return strings.Contains(run.output(), " k first/3") }) {
		t.Fatalf("records not printed in 30 s; output:\n%s", run.output())
	}
	run.stop(t)
	out := run.output()
	for _, want := range []string{"first/1", "first/2", "first/3", "close shardId-000000000000: shutdown"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run's output lacks %q:\n%s", want, out)
		}
	}

	e.put(ctx, t, stream, "second", 1)
	run = startExample(ctx, t, bin, e, stream, storeURL)
	if !waitFor(30*time.Second, func() bool { return strings.Contains(run.output(), " k second/1") }) {
		t.Fatalf("the new record not printed in 30 s; output:\n%s", run.output())
	}
	run.stop(t)
	if out := run.output(); strings.Contains(out, "first/") {
		t.Errorf("the second run read records the first had checkpointed:\n%s", out)
	}
}
