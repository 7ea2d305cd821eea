package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the binary once and run it as an operator
// would, checking exit statuses and that every error is one line.

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// tidemarkBinary builds the binary (once per test run) and returns its path.
func tidemarkBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "tidemark-e2e-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "tidemark")
		if runtime.GOOS == "windows" {
			binary.path += ".exe"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func cleanupBinary() {
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
}

// exe runs the built binary with args and extra environment variables.
func exe(ctx context.Context, t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, tidemarkBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run tidemark %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func exeOK(ctx context.Context, t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := exe(ctx, t, env, args...)
	if r.code != 0 {
		t.Fatalf("tidemark %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func TestBinaryFileStore(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	u := newFileStoreURL(t)
	env := []string{envStore + "=" + u}

	wantFail(t, exe(ctx, t, env, "ls"), exitFailure, "store not found", "tidemark init")
	wantFail(t, exe(ctx, t, env, "sett"), exitUsage, `unknown command "sett"`)
	wantFail(t, exe(ctx, t, env, "set", "0", "--offset", "1"), exitUsage, "--offset and --sequence")

	exeOK(ctx, t, env, "init", "--partitions", "4")
	exeOK(ctx, t, env, "set", "2", "--offset", "4096", "--sequence", "57", "--execute")
	exeOK(ctx, t, env, "set", "3", "--offset", "8192", "--sequence", "99", "--execute")
	hold(ctx, t, u, "host-a", "3")

	r := exeOK(ctx, t, env, "ls")
	if !strings.Contains(r.stdout, "4096") || !strings.Contains(r.stdout, "host-a") {
		t.Errorf("ls:\n%s", r.stdout)
	}
	r = exe(ctx, t, env, "rewind", "--all", "--to-start", "--execute")
	wantFail(t, r, exitFailure, "1 of 4 partitions were not changed")
	if got := getLease(ctx, t, u, "3"); got.Checkpoint.Offset != "8192" || got.Owner != "host-a" {
		t.Errorf("the refused partition changed: %+v", got)
	}
	if !strings.Contains(r.stdout, "refused: held by host-a") {
		t.Errorf("rewind:\n%s", r.stdout)
	}

	// Export to a file, import into a second store, compare.
	file := filepath.Join(t.TempDir(), "backup.json")
	exeOK(ctx, t, env, "export", "-f", file)
	target := newFileStoreURL(t)
	r = exeOK(ctx, t, nil, "import", "-f", file, "--store", target)
	if !strings.Contains(r.stdout, "does not exist yet") {
		t.Errorf("import plan into a new store:\n%s", r.stdout)
	}
	exeOK(ctx, t, nil, "import", "-f", file, "--store", target, "--execute")
	compareGroups(t, lsJSON(ctx, t, u), lsJSON(ctx, t, target))

	exeOK(ctx, t, env, "release", "3")
	exeOK(ctx, t, env, "rm", "3")
	if got := lsJSON(ctx, t, u); len(got) != 3 {
		t.Errorf("%d partitions after rm, want 3", len(got))
	}
}

// TestBinaryWatchStopsOnSignal checks that watch redraws until SIGINT, then
// exits 0.
func TestBinaryWatchStopsOnSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on windows")
	}
	ctx := testContext(t, 2*time.Minute)
	u := newFileStoreURL(t)
	seed(ctx, t, openTestStore(ctx, t, u, "setup"), 2)
	cmd, lines, errb := startPiped(ctx, t, "watch", "--store", u, "--interval", "100ms")
	frames := 0
	for frames < 3 && lines.Scan() {
		if strings.HasPrefix(lines.Text(), "Every 100ms:") {
			frames++
		}
	}
	if frames < 3 {
		t.Fatalf("saw %d frames; stderr: %s", frames, errb.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch after SIGINT: %v; stderr: %s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop within 10s of SIGINT")
	}
	if errb.String() != "" {
		t.Errorf("stderr: %q", errb.String())
	}
}

// compareGroups checks that two stores hold the same partitions with the
// same checkpoints and metadata (owners and epochs are not carried over).
func compareGroups(t *testing.T, want, got []leaseJSON) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d partitions, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Partition != g.Partition || w.Metadata != g.Metadata || (w.Checkpoint == nil) != (g.Checkpoint == nil) ||
			(w.Checkpoint != nil && (w.Checkpoint.off() != g.Checkpoint.off() || w.Checkpoint.seq() != g.Checkpoint.seq())) {
			t.Errorf("partition %d: got %+v, want %+v", i, g, w)
		}
		if g.Owner != "" {
			t.Errorf("partition %s imported with owner %q", g.Partition, g.Owner)
		}
	}
}

// startPiped starts the built binary with args, its standard output read
// line by line and its standard error collected.
func startPiped(ctx context.Context, t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	cmd := exec.CommandContext(ctx, tidemarkBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := &strings.Builder{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stdout), errb
}
