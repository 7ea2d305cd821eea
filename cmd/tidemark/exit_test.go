package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// TestExitStatus (item 11) drives the binary over the cases of the rule in
// exitStatusHelp: 2 when the command line is wrong, 1 when the operation
// failed, whatever the layer that noticed.
func TestExitStatus(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	u := newFileStoreURL(t)
	exeOK(ctx, t, nil, "init", "--store", u, "--partitions", "1")
	dir := t.TempDir()
	notExport := filepath.Join(dir, "passwd")
	if err := os.WriteFile(notExport, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"unknown command", []string{"lss"}, exitUsage, []string{`unknown command "lss"`}},
		{"unknown flag", []string{"ls", "--store", u, "--bogus"}, exitUsage, []string{"unknown flag"}},
		{"bad flag value", []string{"ls", "--store", u, "--timeout", "soon"}, exitUsage, []string{"--timeout"}},
		{"missing argument", []string{"get", "--store", u}, exitUsage, []string{"get wants PARTITION"}},
		{"empty store URL", []string{"ls", "--store", ""}, exitUsage, []string{"no store"}},
		{"URL without a scheme", []string{"ls", "--store", "/var/lib/ckpt"}, exitUsage, []string{"invalid store URL", "check the URL"}},
		{"unknown scheme", []string{"ls", "--store", "ftp://host/x"}, exitUsage, []string{"invalid store URL", `"ftp"`}},
		{"parameter the provider refuses", []string{"ls", "--store", "file:///tmp/x?colour=blue"}, exitUsage, []string{"invalid store URL"}},
		{"mem store", []string{"ls", "--store", "mem://x"}, exitUsage, []string{"mem://", "one process"}},
		{"bad demo hosts", []string{"demo", "--hosts", "2"}, exitUsage, []string{"hosts must be 3 to 25", "see 'tidemark demo --help'"}},
		{"bad demo duration", []string{"demo", "--duration", "1s"}, exitUsage, []string{"too short"}},
		{"bad demo renew", []string{"demo", "--renew", "2s", "--lease", "3s"}, exitUsage, []string{"renew interval"}},
		{"bad demo flag value", []string{"demo", "--rate", "fast"}, exitUsage, []string{"--rate"}},
		{"bad demo store", []string{"demo", "--store", "ftp://x"}, exitUsage, []string{"invalid store URL"}},
		{"import a missing file", []string{"import", "-f", missing, "--store", u}, exitFailure, []string{"missing.json"}},
		{"import a file that is not an export", []string{"import", "-f", notExport, "--store", u}, exitFailure, []string{"not a tidemark export document"}},
		{"rewind to a missing file", []string{"rewind", "--to-file", missing, "--store", u}, exitFailure, []string{"missing.json"}},
		{"rewind to a file that is not a positions file", []string{"rewind", "--to-file", notExport, "--store", u}, exitFailure, []string{"export"}},
		{"store not found", []string{"ls", "--store", newFileStoreURL(t)}, exitFailure, []string{"store not found"}},
		{"partition not found", []string{"get", "7", "--store", u}, exitFailure, []string{"not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, exe(ctx, t, nil, tc.args...), tc.code, tc.wants...)
		})
	}
	if _, err := os.Stat("/etc/passwd"); err == nil {
		t.Run("import /etc/passwd", func(t *testing.T) {
			wantFail(t, exe(ctx, t, nil, "import", "-f", "/etc/passwd", "--store", u), exitFailure, "not a tidemark export document")
		})
	}
}

// TestDemoInterrupted (item 11): Ctrl-C (SIGINT) stops the demo with 130 and
// SIGTERM with 143, as shells report a process killed by those signals; the
// default store is a file store in a temporary folder.
func TestDemoInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on windows")
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT (Ctrl-C)"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			cmd, lines, errb := startPiped(ctx, t, "demo", "--duration", "5m", "--hosts", "3", "--partitions", "6")
			if !lines.Scan() {
				t.Fatalf("no output; stderr: %s", errb.String())
			}
			if first := lines.Text(); !strings.Contains(first, "through file://") || !strings.Contains(first, "tidemark-demo-") {
				t.Errorf("the demo's default store is not a file store in a temporary folder: %s", first)
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			for lines.Scan() {
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
					t.Fatalf("demo after %v: %v, want exit %d; stderr: %s", tc.sig, err, tc.code, errb.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the demo did not stop within 30s of %v", tc.sig)
			}
			// The hosts' warnings (a loaded machine may delay a renewal)
			// may come first, as log records; the error line ends it.
			out := errb.String()
			logLines := strings.SplitAfter(out, "\n")
			for _, l := range logLines[:max(len(logLines)-2, 0)] {
				if !strings.HasPrefix(l, "time=") || !strings.Contains(l, " level=") {
					t.Errorf("stderr line is neither a log record nor the error line: %q", l)
				}
			}
			checkErrorLine(t, out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:], "interrupted by "+tc.name)
		})
	}
}

// The status rule, in-process: a cancellation counts as an interruption only
// when a signal caused it.
func TestExitStatusOfInterruption(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruption{os.Interrupt})
	if got := exitStatus(ctx, fmt.Errorf("demo: %w", context.Canceled)); got != 130 {
		t.Errorf("interrupted: exit %d, want 130", got)
	}
	if got := exitStatus(ctx, blobstore.ErrCorrupt); got != exitFailure {
		t.Errorf("a corrupt report after an interruption: exit %d, want 1", got)
	}
	if got := exitStatus(context.Background(), context.Canceled); got != exitFailure {
		t.Errorf("cancelled without a signal: exit %d, want 1", got)
	}
}

// TestMemStoreRefused (item 12): every command that takes --store refuses
// mem:// with a sentence that says why and what to use, and exit 2; the
// demo, whose group lives in its one process, accepts it.
func TestMemStoreRefused(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	file := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(file, []byte(`{"format":"tidemark-export","version":1,"partitions":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--partitions", "3"}, {"ls"}, {"get", "0"}, {"watch", "--count", "1"},
		{"set", "0", "--offset", "1", "--sequence", "1"}, {"rewind", "--all", "--to-start"},
		{"release", "0"}, {"rm", "0"}, {"rm", "--corrupt", "0"}, {"export"}, {"import", "-f", file},
	} {
		for _, u := range []string{"mem://", "mem://group", "MEM://group"} {
			t.Run(args[0]+" "+u, func(t *testing.T) {
				r := tidemark(ctx, t, append(args, "--store", u)...)
				wantFail(t, r, exitUsage, "mem:// is refused", "only inside one process", "file:///")
				if r.stdout != "" {
					t.Errorf("stdout: %q", r.stdout)
				}
			})
		}
	}
	t.Run("through the environment", func(t *testing.T) {
		t.Setenv(envStore, "mem://group")
		wantFail(t, tidemark(ctx, t, "init", "--partitions", "3"), exitUsage, "mem:// is refused")
	})
	t.Run("demo", func(t *testing.T) {
		// A name of its own: this runs in-process, where a mem:// namespace
		// outlives the run (go test -count=3).
		store := fmt.Sprintf("mem://demo-%d", time.Now().UnixNano())
		r := tidemark(ctx, t, "demo", "--store", store, "--duration", "3s", "--lease", "300ms", "--renew", "100ms",
			"--hosts", "3", "--partitions", "4")
		if strings.Contains(r.stderr, "mem://") || !strings.Contains(r.stdout, "through "+store) {
			t.Errorf("demo on mem://: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestErrorHints (item 13): each error says what to do, and only what fits
// it: a missing bucket is not fixed by init, a missing marker or directory
// is; "check the network" is said of unavailability only.
func TestErrorHints(t *testing.T) {
	ctx := testContext(t, time.Minute)
	bucketErr := fmt.Errorf("%w: create store %q: %w", blobstore.ErrStoreNotFound, "tidemark-store",
		fmt.Errorf("s3: bucket %q: %w", "ckpt", driver.ErrBucketNotFound))
	dirErr := fmt.Errorf("%w: list %q: %w", blobstore.ErrStoreNotFound, "",
		fmt.Errorf("file: directory /x does not exist: %w", driver.ErrBucketNotFound))
	markerErr := fmt.Errorf("%w: no store marker at %q (call CreateStoreIfNotExists)", blobstore.ErrStoreNotFound, "a/tidemark-store")
	tests := []struct {
		name, url string
		err       error
		wants     []string
		nots      []string
	}{
		{"missing bucket", "s3://ckpt", bucketErr, []string{"bucket or container does not exist", "provider's tools", "init never creates buckets"}, []string{"'tidemark init'", "network"}},
		{"missing directory", "file:///x", dirErr, []string{"'tidemark init'", "creates the directory"}, []string{"provider's tools", "network"}},
		{"missing marker", "s3://ckpt", markerErr, []string{"no store marker", "create the store with 'tidemark init'"}, []string{"CreateStoreIfNotExists", "network"}},
		{"permission", "s3://ckpt", fmt.Errorf("%w: get %q: 403", blobstore.ErrPermission, "k"), []string{"check the credentials"}, []string{"network"}},
		{"invalid URL", "", fmt.Errorf("%w: unknown scheme", blobstore.ErrInvalidURL), []string{"check the URL"}, []string{"network", "credentials"}},
		{"file permission", "file:///x", fmt.Errorf("%w: put %q: mkdir /x/.tidemark-fs: operation not permitted: check the directory's permissions", blobstore.ErrPermission, "k"), []string{"check the directory's permissions"}, []string{"credentials", "network"}},
		{"unavailable", "s3://ckpt", fmt.Errorf("%w: list: connection refused", blobstore.ErrUnavailable), []string{"check the URL, the network"}, nil},
		{"corrupt", "s3://ckpt", &blobstore.CorruptRecordError{Key: "a/1.json", Reason: "does not parse"}, []string{"left as it is", "rm --corrupt"}, []string{"network"}},
		{"timeout on unavailable", "s3://ckpt", &timeoutError{d: time.Second, err: fmt.Errorf("%w: list", blobstore.ErrUnavailable)}, []string{"did not answer within 1s", "the network"}, nil},
		{"timeout on a lock", "s3://ckpt", &timeoutError{d: time.Second, err: context.DeadlineExceeded}, []string{"did not answer within 1s", "--timeout"}, []string{"network"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := explain(tc.err, tc.url)
			for _, w := range tc.wants {
				if !strings.Contains(got, w) {
					t.Errorf("explain: %q lacks %q", got, w)
				}
			}
			for _, n := range tc.nots {
				if strings.Contains(got, n) {
					t.Errorf("explain: %q says %q", got, n)
				}
			}
		})
	}

	// The same through the CLI, on stores that fail that way.
	t.Run("init on a missing bucket", func(t *testing.T) {
		r := tidemark(ctx, t, "init", "--store", schemeFault+"://nobucket")
		wantFail(t, r, exitFailure, "store not found", "bucket or container does not exist", "init never creates buckets")
		if strings.Contains(r.stderr, "'tidemark init'") || strings.Contains(r.stderr, "network") {
			t.Errorf("init on a missing bucket: %s", r.stderr)
		}
	})
	t.Run("ls on a missing bucket", func(t *testing.T) {
		wantFail(t, tidemark(ctx, t, "ls", "--store", schemeFault+"://nobucket"), exitFailure, "bucket or container does not exist")
	})
	t.Run("ls on a new file store", func(t *testing.T) {
		wantFail(t, tidemark(ctx, t, "ls", "--store", newFileStoreURL(t)), exitFailure, "store not found", "'tidemark init'")
	})
	t.Run("ls on a file store without marker", func(t *testing.T) {
		u := newFileStoreURL(t)
		other := strings.Replace(u, "prefix=orders/billing/", "prefix=orders/payments/", 1)
		mustRun(ctx, t, "init", "--store", u)
		r := tidemark(ctx, t, "ls", "--store", other)
		wantFail(t, r, exitFailure, "no store marker", "'tidemark init'")
	})
	t.Run("permission", func(t *testing.T) {
		r := tidemark(ctx, t, "ls", "--store", schemeFault+"://denied")
		wantFail(t, r, exitFailure, "permission denied", "check the credentials")
		if strings.Contains(r.stderr, "network") {
			t.Errorf("permission: %s", r.stderr)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		wantFail(t, tidemark(ctx, t, "ls", "--store", schemeFault+"://down"), exitFailure, "store unavailable", "the network")
	})
}
