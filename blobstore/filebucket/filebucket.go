// Package filebucket is a driver.Bucket over a local directory with atomic
// create-only and compare-and-swap writes that hold across OS processes
// sharing the directory. It backs "file://" store URLs.
//
// gocloud.dev's fileblob is not safe for leases: its create-only write is a
// check followed by a rename (racing creators both win), and its ETag
// (modification time and size) can repeat for different bytes. This driver
// instead:
//
//   - serializes every write and delete of a key with an exclusive advisory
//     lock (flock on Unix, LockFileEx on Windows) on a lock file of its own,
//     so a conditional write's check and write are one atomic step for every
//     process using this driver;
//   - writes a new version to a temporary file, syncs it, renames it over the
//     object and syncs the directory, so a reader or a crash sees the old
//     bytes or the new ones, never a torn mix;
//   - uses a SHA-256 of the bytes as the version token, so a token changes
//     whenever the bytes change. Get, Put and List all compute it from the
//     bytes (List reads each file it returns), so they agree on it.
//
// Errors carry the driver sentinel and the file system's error shown without
// its path: the path is the directory plus the key, and blobstore.Store names
// the key. errors.As still reaches the *fs.PathError or *os.LinkError.
//
// Objects are plain files at <root>/<key>, readable with cat. The driver keeps
// its lock files and temporary files under <root>/.tidemark-fs/, which listing
// skips and keys may not enter. The directory must be on a local file system:
// advisory locks on network file systems are not dependable.
package filebucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// PageSize is how many keys List returns at most per call.
const PageSize = 1000

// internalDir holds lock and temporary files, below the root.
const internalDir = ".tidemark-fs"

// Bucket is a driver.Bucket over one directory.
type Bucket struct {
	root string
}

var _ driver.Bucket = (*Bucket)(nil)

// Open returns a Bucket over the directory root, which must be an absolute
// path. The directory need not exist: Get and List then report
// driver.ErrBucketNotFound, and the first Put creates it.
func Open(root string) (*Bucket, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("file: %q is not an absolute path", root)
	}
	b := &Bucket{root: filepath.Clean(root)}
	b.sweepTemp()
	return b, nil
}

// Root returns the directory the Bucket stores objects in.
func (b *Bucket) Root() string { return b.root }

var (
	errInvalidKey  = errors.New(`invalid key: it must be a relative slash-separated path with no empty, "." or ".." segment, backslash or NUL byte`)
	errReservedKey = errors.New("invalid key: " + internalDir + "/ holds the driver's own files")
)

func (b *Bucket) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, `\`) || strings.ContainsRune(key, 0) {
		return "", errInvalidKey
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errInvalidKey
		}
	}
	if key == internalDir || strings.HasPrefix(key, internalDir+"/") {
		return "", errReservedKey
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func version(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// pathless shows a file system error without its path, which holds the key
// (blobstore.Store names the key once), and keeps the error for errors.Is and
// errors.As.
type pathless struct {
	msg string
	err error
}

func (e *pathless) Error() string { return e.msg }
func (e *pathless) Unwrap() error { return e.err }

// hidePath returns err, an error straight from the os package, without its
// path. Other errors are returned unchanged.
func hidePath(err error) error {
	switch e := err.(type) { //nolint:errorlint // only an unwrapped os error is reworded
	case *fs.PathError:
		return &pathless{msg: e.Op + ": " + e.Err.Error(), err: err}
	case *os.LinkError:
		return &pathless{msg: e.Op + ": " + e.Err.Error(), err: err}
	}
	return err
}

// rootMissing is the error for a root directory that does not exist; err is
// the error that showed it.
func (b *Bucket) rootMissing(err error) error {
	return fmt.Errorf("%w: the directory %s does not exist: %w", driver.ErrBucketNotFound, b.root, hidePath(err))
}

// notFound maps a missing file to ErrNotFound, or to ErrBucketNotFound when
// the root directory itself is missing.
func (b *Bucket) notFound(err error) error {
	if _, serr := os.Stat(b.root); isMissing(serr) {
		return b.rootMissing(serr)
	}
	return fmt.Errorf("%w: %w", driver.ErrNotFound, hidePath(err))
}

// classify is the one place where file system errors become driver
// sentinels. A refusal by the file system (EACCES, EPERM, or EROFS for a
// read-only mount) is ErrPermission, never an outage, and its message names
// the directory and what to check. Anything else is left unclassified.
func (b *Bucket) classify(err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %w: the file system holding %s is read-only: mount it read-write or choose another directory",
			driver.ErrPermission, hidePath(err), b.root)
	case errors.Is(err, fs.ErrPermission): // EACCES, EPERM
		return fmt.Errorf("%w: %w: check the directory's permissions: this process must be able to create, rename and remove files in %s",
			driver.ErrPermission, hidePath(err), b.root)
	}
	return hidePath(err)
}

func isMissing(err error) bool {
	// ENOTDIR: a path element is a file, so the object cannot exist.
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir)
}

// Get implements driver.Bucket. Reads take no lock: rename is atomic, so a
// reader sees a complete old or new file.
func (b *Bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	p, err := b.path(key)
	if err != nil {
		return driver.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return driver.Object{}, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		if isMissing(err) {
			return driver.Object{}, b.notFound(err)
		}
		return driver.Object{}, b.classify(err)
	}
	return driver.Object{Data: data, Version: version(data)}, nil
}

// current reads the object's version under the key's lock; "" means missing.
func (b *Bucket) current(p string) (string, error) {
	data, err := os.ReadFile(p)
	if isMissing(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return version(data), nil
}

// Put implements driver.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	p, err := b.path(key)
	if err != nil {
		return "", err
	}
	unlock, err := b.lock(ctx, key)
	if err != nil {
		return "", b.classify(err)
	}
	defer unlock()

	cur, err := b.current(p)
	if err != nil {
		return "", b.classify(err)
	}
	switch {
	case ifVersion == driver.CreateOnly && cur != "":
		return "", fmt.Errorf("%w: the object exists", driver.ErrPrecondition)
	case ifVersion != driver.CreateOnly && cur == "":
		return "", fmt.Errorf("%w: the object is missing", driver.ErrPrecondition)
	case ifVersion != driver.CreateOnly && cur != ifVersion:
		return "", fmt.Errorf("%w: the version changed", driver.ErrPrecondition)
	}
	if err := b.replace(p, data); err != nil {
		return "", b.classify(err)
	}
	return version(data), nil
}

// replace atomically and durably puts data at p.
func (b *Bucket) replace(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := b.mkdirDurable(dir); err != nil {
		return err
	}
	tmpDir := filepath.Join(b.root, internalDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, "put-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return syncDir(dir)
}

// mkdirDurable creates dir and any missing parents, and syncs the parent of
// every directory it created, so a record's folder survives a power loss as
// the record does.
func (b *Bucket) mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements driver.Bucket. It removes the object unconditionally,
// under the key's lock so that it never lands between a compare-and-swap's
// check and its write. Deleting a missing object (or one in a missing
// directory) succeeds and creates nothing.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); isMissing(err) {
		return nil
	}
	unlock, err := b.lock(ctx, key)
	if err != nil {
		return b.classify(err)
	}
	defer unlock()
	if err := os.Remove(p); err != nil {
		if isMissing(err) {
			return nil
		}
		return b.classify(err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return b.classify(err)
	}
	return nil
}

// List implements driver.Bucket. The page token is the last key returned.
// Each entry's version is computed from the file's bytes, as Get computes it,
// so List reads every file it returns. A file removed between the directory
// walk and its read is left out.
func (b *Bucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	if _, err := os.Stat(b.root); err != nil {
		if isMissing(err) {
			return nil, "", b.rootMissing(err)
		}
		return nil, "", b.classify(err)
	}
	// Walk only the deepest directory the prefix names.
	start := b.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(b.root, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isMissing(err) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(b.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == internalDir {
				return filepath.SkipDir
			}
			// Prune directories that cannot hold a matching key.
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(key, prefix) && key > pageToken {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, "", b.classify(err)
	}
	sort.Strings(keys)
	next := ""
	if len(keys) > PageSize {
		keys = keys[:PageSize]
		next = keys[len(keys)-1]
	}
	entries := make([]driver.Entry, 0, len(keys))
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		path := filepath.Join(b.root, filepath.FromSlash(k))
		data, err := os.ReadFile(path)
		var info os.FileInfo
		if err == nil {
			info, err = os.Stat(path)
		}
		if err != nil {
			if isMissing(err) {
				continue // deleted since the walk
			}
			return nil, "", b.classify(err)
		}
		entries = append(entries, driver.Entry{Key: k, Version: version(data), Modified: info.ModTime()})
	}
	return entries, next, nil
}

// Close implements driver.Bucket.
func (b *Bucket) Close() error { return nil }

// lock takes the key's exclusive lock, polling so that ctx can cancel the
// wait. The returned function releases it.
func (b *Bucket) lock(ctx context.Context, key string) (func(), error) {
	lp := filepath.Join(b.root, internalDir, "locks", filepath.FromSlash(key)+".lock")
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	wait := 50 * time.Microsecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return func() { unlock(f); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if wait < 5*time.Millisecond {
			wait *= 2
		}
	}
}

// sweepTemp removes temporary files that a crashed writer left behind. A
// temporary file is only ever renamed by the writer that made it within
// milliseconds, so anything older than a minute is garbage.
func (b *Bucket) sweepTemp() {
	dir := filepath.Join(b.root, internalDir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
