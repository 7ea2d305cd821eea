//go:build unix

package filebucket

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// TestClassify feeds the mapping the errors the file system returns. A
// read-only mount (EROFS) cannot be made without privileges this test does
// not take, so the errors are built as os functions build them: an
// *fs.PathError around a syscall.Errno. TestUnwritableDirectory (Linux)
// checks EACCES or EPERM on a real directory.
func TestClassify(t *testing.T) {
	const root = "/srv/tidemark"
	b := &Bucket{root: root}
	pathErr := func(op string, errno syscall.Errno) error {
		return &fs.PathError{Op: op, Path: root + "/.tidemark-fs", Err: errno}
	}
	tests := []struct {
		name     string
		err      error
		want     error // nil: no sentinel
		wantText []string
	}{
		{"EACCES", pathErr("mkdir", syscall.EACCES), driver.ErrPermission,
			[]string{"mkdir /srv/tidemark/.tidemark-fs: permission denied", "check the directory's permissions", root}},
		{"EPERM", pathErr("rename", syscall.EPERM), driver.ErrPermission,
			[]string{"operation not permitted", "check the directory's permissions", root}},
		{"EROFS", pathErr("open", syscall.EROFS), driver.ErrPermission,
			[]string{"read-only file system", "is read-only", root}},
		{"EIO", pathErr("open", syscall.EIO), nil, []string{"input/output error"}},
		{"ENOSPC", pathErr("write", syscall.ENOSPC), nil, []string{"no space left"}},
		{"canceled", context.Canceled, nil, []string{"context canceled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := b.classify("put", "p/0.json", tc.err)
			for _, s := range []error{driver.ErrPermission, driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPrecondition, driver.ErrConflict} {
				if is := errors.Is(got, s); is != (s == tc.want) { //nolint:errorlint // comparing sentinel identities
					t.Errorf("errors.Is(%v, %v) = %v", got, s, is)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the file system error is not wrapped: %v", got)
			}
			msg := got.Error()
			if !strings.HasPrefix(msg, `file: put "p/0.json": `) || strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line naming the operation and key", msg)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}
