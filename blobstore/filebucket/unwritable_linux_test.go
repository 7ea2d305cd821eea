package filebucket_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
)

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h, which x/sys/unix does not
// define.
const fsImmutableFL = 0x10

// makeUnwritable makes dir refuse new entries, renames and removals until the
// test ends. File modes do not bind root, so as root it sets the immutable
// attribute (chattr +i), which refuses even root with EPERM; otherwise it
// removes the write bits, which gives EACCES.
func makeUnwritable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return
	}
	setFlags := func(immutable bool) error {
		f, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
		if err != nil {
			return err
		}
		if immutable {
			flags |= fsImmutableFL
		} else {
			flags &^= fsImmutableFL
		}
		return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags)
	}
	if err := setFlags(true); err != nil {
		t.Skipf("running as root and the immutable attribute cannot be set on %s (%v): no way to make a directory refuse root", dir, err)
	}
	// Registered after t.TempDir's cleanup, so it runs before the removal.
	t.Cleanup(func() {
		if err := setFlags(false); err != nil {
			t.Errorf("clearing the immutable attribute of %s: %v", dir, err)
		}
	})
}

// TestUnwritableDirectory: a directory the process may not write is a
// permission problem (never an outage), and the message names the directory
// and says what to check.
func TestUnwritableDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	seeded := t.TempDir()
	b, err := filebucket.Open(seeded)
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.Put(ctx, "existing", []byte("x"), driver.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	makeUnwritable(t, seeded)
	makeUnwritable(t, empty)

	tests := []struct {
		name string
		root string
		op   func(b *filebucket.Bucket) error
	}{
		{"create-in-new-directory", empty, func(b *filebucket.Bucket) error {
			_, err := b.Put(ctx, "k", []byte("x"), driver.CreateOnly)
			return err
		}},
		{"create-in-initialized-directory", seeded, func(b *filebucket.Bucket) error {
			_, err := b.Put(ctx, "new", []byte("x"), driver.CreateOnly)
			return err
		}},
		{"compare-and-swap", seeded, func(b *filebucket.Bucket) error {
			_, err := b.Put(ctx, "existing", []byte("y"), v)
			return err
		}},
		{"delete", seeded, func(b *filebucket.Bucket) error {
			return b.Delete(ctx, "existing")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := filebucket.Open(tc.root)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.op(b)
			if !errors.Is(err, driver.ErrPermission) {
				t.Fatalf("got %v, want an error wrapping driver.ErrPermission", err)
			}
			msg := err.Error()
			for _, want := range []string{tc.root, "check the directory's permissions"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line", msg)
			}
			t.Logf("%s", msg)
		})
	}
	// Reading still works.
	if obj, err := b.Get(ctx, "existing"); err != nil || obj.Version != v {
		t.Fatalf("Get from the unwritable directory = %q, %v", obj.Version, err)
	}
}
