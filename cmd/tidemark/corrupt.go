package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

// rm --corrupt: the explicit way to remove a record that cannot be read.
// Nothing else in Tidemark overwrites such a record (ls, watch, export and
// rewind --all list past it), so an operator who has looked at it needs one
// safe way to clear it: a plan that shows what is stored, and --execute that
// removes it only if it still holds exactly those bytes.

// corruptRecords is the part of *blobstore.Store that rm --corrupt uses to
// inspect and remove a record: ReadRecordBytes returns the stored bytes and
// their version whether or not they parse, and RemoveCorrupt replaces them
// with a tombstone by one conditional write on that version, refusing when
// the object changed or reads as a valid record. It is an interface so that
// a test can put itself between the two calls.
type corruptRecords interface {
	ReadRecordBytes(ctx context.Context, id string) (data []byte, version string, err error)
	RemoveCorrupt(ctx context.Context, id, version string) error
}

// corruptRecordsOf returns the corrupt-record calls of s. Tests replace it.
var corruptRecordsOf = func(s *blobstore.Store) corruptRecords { return s }

// corruptPeek is how many stored bytes the plan shows.
const corruptPeek = 64

// corruptTarget is one record rm --corrupt was asked to remove.
type corruptTarget struct {
	id, key string
	problem string // why it cannot be read
	data    []byte // what is stored
	version string // the version of data
}

// corruptID turns rm --corrupt's argument, a partition id or the record's
// key (PREFIX + ID + ".json", as ls and the errors name it), into the id.
func corruptID(arg, prefix string) (string, error) {
	if strings.HasPrefix(arg, prefix) && strings.HasSuffix(arg, recordSuffix) &&
		(prefix != "" || !strings.Contains(arg, "/")) {
		if id := strings.TrimSuffix(strings.TrimPrefix(arg, prefix), recordSuffix); id != "" {
			arg = id
		}
	} else if strings.Contains(arg, "/") {
		return "", usageErrorf("%s is not a record key under this store's prefix %q (want a partition id or PREFIX+ID%s)",
			cell(arg), prefix, recordSuffix)
	}
	if err := checkIDs([]string{arg}); err != nil {
		return "", err
	}
	return arg, nil
}

// recordSuffix ends every partition record's key.
const recordSuffix = ".json"

// inspectCorrupt reads what is stored for id and checks that it is corrupt.
// A record that reads fine is refused: rm --corrupt never removes a record
// an owner may be using.
func inspectCorrupt(ctx context.Context, s *blobstore.Store, cr corruptRecords, id string) (*corruptTarget, error) {
	t := &corruptTarget{id: id, key: s.Prefix() + id + recordSuffix}
	l, found, err := s.GetLease(ctx, id)
	var ce *blobstore.CorruptRecordError
	switch {
	case err == nil && found:
		return nil, fmt.Errorf("%w: partition %s is not corrupt: its record reads fine (owner %s, epoch %d), so rm --corrupt leaves it alone; delete it with 'tidemark rm %s'",
			blobstore.ErrInvalidArgument, cell(id), orNone(l.Owner), l.Epoch, cell(id))
	case err == nil:
		return nil, fmt.Errorf("%w: %q has no record at %s", blobstore.ErrPartitionNotFound, id, t.key)
	case !errors.As(err, &ce):
		return nil, err
	}
	t.key, t.problem = ce.Key, ce.Reason
	if ce.Err != nil {
		t.problem += ": " + ce.Err.Error()
	}
	if t.data, t.version, err = cr.ReadRecordBytes(ctx, id); err != nil {
		return nil, err
	}
	return t, nil
}

// renderCorruptPlan shows what rm --corrupt --execute would remove.
func renderCorruptPlan(w io.Writer, targets []*corruptTarget) error {
	for i, t := range targets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := newTable(w)
		row(tw, "Key:", cell(t.key))
		row(tw, "Partition:", cell(t.id))
		row(tw, "Problem:", escapeControls(t.problem))
		row(tw, "Size:", fmt.Sprintf("%d bytes", len(t.data)))
		row(tw, "First bytes:", peek(t.data))
		row(tw, "Action:", "remove, only if the object still holds these bytes")
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\nDry run: %d corrupt record(s) would be removed; nothing was written. Add --execute to remove them.\n", len(targets))
	return err
}

// peek shows the first bytes of data, escaped as a Go string.
func peek(data []byte) string {
	if len(data) <= corruptPeek {
		return strconv.Quote(string(data))
	}
	return strconv.Quote(string(data[:corruptPeek])) + fmt.Sprintf(" … (%d more bytes)", len(data)-corruptPeek)
}

// runRmCorrupt is rm --corrupt: a plan, or with execute the removal.
func runRmCorrupt(cmd *cobra.Command, args []string, execute bool) error {
	return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
		cr := corruptRecordsOf(s)
		var targets []*corruptTarget
		seen := map[string]bool{}
		for _, arg := range args {
			id, err := corruptID(arg, s.Prefix())
			if err != nil {
				return err
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			t, err := inspectCorrupt(ctx, s, cr, id)
			if err != nil {
				return err // before anything is removed: a typo must not turn into a partial removal
			}
			targets = append(targets, t)
		}
		w := cmd.OutOrStdout()
		if !execute {
			return renderCorruptPlan(w, targets)
		}
		failed := 0
		for _, t := range targets {
			if err := cr.RemoveCorrupt(ctx, t.id, t.version); err != nil {
				failed++
				fmt.Fprintf(w, "Corrupt record %s not removed: %s\n", cell(t.key),
					escapeControls(scrubSecrets(explain(timedOut(ctx, err), storeURLFrom(cmd)), storeURLFrom(cmd))))
				continue
			}
			fmt.Fprintf(w, "Corrupt record %s removed (%d bytes).\n", cell(t.key), len(t.data))
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d corrupt record(s) were not removed: see above", failed, len(targets))
		}
		return nil
	})
}
