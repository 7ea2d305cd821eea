//go:build windows

package filebucket

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

var errNotDir = windows.ERROR_DIRECTORY

// tryLock takes an exclusive lock on f's first byte without blocking.
func tryLock(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return false, nil
	}
	return err == nil, err
}

func unlock(f *os.File) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}

// syncDir is a no-op: Windows cannot open a directory for syncing, and its
// MoveFileEx-based rename is already durable with the file's own sync.
func syncDir(string) error { return nil }
