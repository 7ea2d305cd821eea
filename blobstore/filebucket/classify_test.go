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
	const key = "p/0.json"
	pathErr := func(op string, errno syscall.Errno) error {
		return &fs.PathError{Op: op, Path: root + "/" + key, Err: errno}
	}
	tests := []struct {
		name     string
		err      error
		want     error // nil: no sentinel
		wantText []string
	}{
		{"EACCES", pathErr("mkdir", syscall.EACCES), driver.ErrPermission,
			[]string{"permission denied: mkdir: permission denied: check the directory's permissions", root}},
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
			got := b.classify(tc.err)
			for _, s := range []error{driver.ErrPermission, driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPrecondition, driver.ErrConflict} {
				if is := errors.Is(got, s); is != (s == tc.want) { //nolint:errorlint // comparing sentinel identities
					t.Errorf("errors.Is(%v, %v) = %v", got, s, is)
				}
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the file system error is not wrapped: %v", got)
			}
			var pe *fs.PathError
			if errors.As(tc.err, &pe) && (!errors.As(got, &pe) || pe.Path != root+"/"+key) {
				t.Errorf("errors.As does not reach the *fs.PathError: %v", got)
			}
			// The Store names the operation and the key; the driver names
			// neither, not even inside the path.
			msg := got.Error()
			if strings.Contains(msg, key) || strings.Contains(msg, `put "`) || strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line free of the operation and the key", msg)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}
