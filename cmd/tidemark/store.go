package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

const (
	flagStore   = "store"
	flagTimeout = "timeout"
	envStore    = "TIDEMARK_STORE"

	defaultTimeout = 30 * time.Second
)

// addGlobalFlags adds the flags every subcommand takes.
func addGlobalFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.String(flagStore, "", "the store `URL`, e.g. s3://BUCKET?prefix=GROUP/ (default $"+envStore+")")
	pf.Duration(flagTimeout, defaultTimeout, "give up on the store after this long (per refresh for watch)")
}

// storeURL returns the URL from --store or TIDEMARK_STORE. It refuses a
// mem:// URL: see errMemStore.
func storeURL(cmd *cobra.Command) (string, error) {
	u, _ := cmd.Flags().GetString(flagStore)
	if u == "" {
		u = os.Getenv(envStore)
	}
	if u == "" {
		return "", usageErrorf("no store: pass --store URL or set %s", envStore)
	}
	if isMemURL(u) {
		return "", errMemStore
	}
	return u, nil
}

// errMemStore refuses a mem:// store: every tidemark command is a process of
// its own, so what one wrote to memory would be gone before the next looked.
var errMemStore = usageErrorf("mem:// is refused: a memory store lives only inside one process, so what this command wrote would vanish when it exits; use a directory instead, e.g. --store file:///var/tmp/tidemark")

// isFileURL reports whether raw names a local directory store.
func isFileURL(raw string) bool {
	scheme, _, ok := strings.Cut(raw, ":")
	return ok && strings.EqualFold(strings.TrimSpace(scheme), "file")
}

// isMemURL reports whether raw names the in-process memory store.
func isMemURL(raw string) bool {
	scheme, _, ok := strings.Cut(raw, ":")
	return ok && strings.EqualFold(strings.TrimSpace(scheme), "mem")
}

// commandTimeout returns --timeout, refusing a non-positive one.
func commandTimeout(cmd *cobra.Command) (time.Duration, error) {
	d, _ := cmd.Flags().GetDuration(flagTimeout)
	if d <= 0 {
		return 0, usageErrorf("--timeout must be positive, got %v", d)
	}
	return d, nil
}

// cliOwner is the owner name this tool writes when it must hold a lease for a
// moment (import restoring a partition's metadata).
func cliOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("tidemark-cli@%s-%d", host, os.Getpid())
}

// openStore opens the command's store with opts (nil: the defaults) and
// returns it with a context bounded by --timeout. The caller closes the store
// and calls cancel.
func openStore(cmd *cobra.Command, opts *blobstore.Options) (*blobstore.Store, context.Context, context.CancelFunc, error) {
	raw, err := storeURL(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	timeout, err := commandTimeout(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	o := blobstore.Options{Owner: cliOwner()}
	if opts != nil {
		o = *opts
		if o.Owner == "" {
			o.Owner = cliOwner()
		}
	}
	if o.Logger == nil {
		o.Logger = logger(cmd)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	ctx = withTimeoutNote(ctx, timeout)
	s, err := blobstore.Open(ctx, raw, &o)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return s, ctx, cancel, nil
}

// withStore opens the command's store, runs fn under the --timeout deadline
// and closes the store. An error caused by the deadline says so.
func withStore(cmd *cobra.Command, opts *blobstore.Options, fn func(ctx context.Context, s *blobstore.Store) error) error {
	s, ctx, cancel, err := openStore(cmd, opts)
	if err != nil {
		return err
	}
	defer cancel()
	defer s.Close()
	return timedOut(ctx, fn(ctx, s))
}

type timeoutKey struct{}

// withTimeoutNote remembers the --timeout value, so an expired deadline is
// explained with it.
func withTimeoutNote(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, timeoutKey{}, d)
}

// timedOut wraps err when ctx's deadline is what ended it.
func timedOut(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	d, _ := ctx.Value(timeoutKey{}).(time.Duration)
	return &timeoutError{d: d, err: err}
}

type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("the store did not answer within %v (--timeout): %v", e.d, trimPrefix(e.err.Error()))
}
func (e *timeoutError) Unwrap() error { return e.err }

// trimPrefix drops the "tidemark: " the core's sentinels start with: the
// printed line already starts with it.
func trimPrefix(s string) string {
	for strings.HasPrefix(s, "tidemark: ") {
		s = strings.TrimPrefix(s, "tidemark: ")
	}
	return s
}

// explain turns an error into what an operator needs: the core's message
// (which names the partition or key) and, for the errors an operator can act
// on, what to do next. rawURL is the store's URL ("" if none): a missing
// directory is fixed by init, a missing bucket is not.
func explain(err error, rawURL string) string {
	msg := trimPrefix(err.Error())
	// Advice meant for library callers; the operator gets theirs below.
	msg = strings.ReplaceAll(msg, " (call CreateStoreIfNotExists)", "")
	var te *timeoutError
	switch {
	case isUsage(err):
		return msg
	case errors.Is(err, context.Canceled):
		return "interrupted: " + msg
	case errors.Is(err, driver.ErrBucketNotFound) && isFileURL(rawURL):
		return msg + "; create the store with 'tidemark init' (it creates the directory), or check the path"
	case errors.Is(err, driver.ErrBucketNotFound):
		// Wrapped in ErrStoreNotFound, but init cannot fix it.
		return msg + "; the bucket or container does not exist: create it with your provider's tools (tidemark init never creates buckets), or check the URL"
	case errors.Is(err, blobstore.ErrStoreNotFound):
		// The message names the missing marker.
		return msg + "; create the store with 'tidemark init', or check the URL and its prefix"
	case errors.Is(err, blobstore.ErrLeaseHeld):
		return msg + "; add --force to fence the owner (its epoch is bumped and its next checkpoint fails instead of overwriting this edit)"
	case errors.Is(err, blobstore.ErrCorrupt):
		return msg + "; the object was left as it is: inspect it ('tidemark rm --corrupt' shows it), then repair it or remove it with 'tidemark rm --corrupt --execute'"
	case errors.Is(err, blobstore.ErrPermission) && isFileURL(rawURL):
		return msg // the file store names the directory and what to check
	case errors.Is(err, blobstore.ErrPermission):
		return msg + "; the provider refused the credentials: check the credentials and their access to this bucket and prefix"
	case errors.Is(err, blobstore.ErrInvalidURL):
		return msg + "; check the URL (the forms are in 'tidemark --help')"
	case errors.Is(err, blobstore.ErrUnavailable) && strings.Contains(strings.ToLower(msg), "get credentials"):
		// The SDK found no credentials; the core cannot tell this from an
		// outage, the message can.
		return msg + "; no usable credentials were found: set them the provider's usual way (environment, config files, instance role)"
	case errors.Is(err, blobstore.ErrUnavailable) && errors.As(err, &te):
		return msg + "; check the URL, the network and the provider's endpoint"
	case errors.Is(err, blobstore.ErrUnavailable):
		return msg + "; the store could not be reached: check the URL, the network and the provider's status"
	case errors.As(err, &te):
		return msg + "; try again, or allow more time with --timeout"
	}
	return msg
}
