package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

func init() { commands = append(commands, newLsCmd, newGetCmd) }

// leaseJSON is a partition as ls, get and watch print it with -o json, and as
// rewind --to-file reads it back.
type leaseJSON struct {
	Partition  string    `json:"partition"`
	Owner      string    `json:"owner"`
	State      string    `json:"state"`
	Epoch      uint64    `json:"epoch"`
	Checkpoint *position `json:"checkpoint"`
	Metadata   string    `json:"metadata"`
	// Updated is the writer's wall-clock time of its last write.
	Updated time.Time `json:"updated"`
	// UnchangedForSeconds is watch's own observation (absent from ls/get).
	UnchangedForSeconds *float64 `json:"unchanged_for_seconds,omitempty"`
	// Error says why a record could not be read (state "corrupt").
	Error string `json:"error,omitempty"`
}

// corruptRows turns unreadable records into rows naming them, and the error
// ls exits with after listing everything else.
func corruptRows(s *blobstore.Store, corrupt []*blobstore.CorruptRecordError) ([]leaseJSON, error) {
	if len(corrupt) == 0 {
		return nil, nil
	}
	rows := make([]leaseJSON, 0, len(corrupt))
	keys := make([]string, 0, len(corrupt))
	for _, c := range corrupt {
		id := strings.TrimSuffix(strings.TrimPrefix(c.Key, s.Prefix()), recordSuffix)
		rows = append(rows, leaseJSON{Partition: id, State: "corrupt", Error: c.Reason})
		keys = append(keys, c.Key)
	}
	return rows, fmt.Errorf("%w: %d unreadable record(s), listed as corrupt: %s",
		blobstore.ErrCorrupt, len(corrupt), strings.Join(keys, ", "))
}

func leaseToJSON(l blobstore.Lease) leaseJSON {
	return leaseJSON{
		Partition:  l.PartitionID,
		Owner:      l.Owner,
		State:      state(l),
		Epoch:      l.Epoch,
		Checkpoint: positionOf(l.Checkpoint),
		Metadata:   l.Metadata,
		Updated:    l.UpdatedAt,
	}
}

const lsLong = `List every partition of the store: its owner, lease state, epoch and
checkpoint.

Columns:
  OWNER              the host holding the lease; <none> when free
  STATE              held (the record names an owner), free, or corrupt (the
                     record cannot be read: listed, named, and never touched;
                     ls then exits 1)
  EPOCH              grows on every change of owner and every forced edit
  OFFSET, SEQUENCE   the checkpoint; <none> when the partition has none
  AGE(WRITER-CLOCK)  time since the last write, by the WRITER's wall clock
                     against this machine's: informational only, off by any
                     clock skew, and never used to decide expiry

A single look cannot tell a live owner from a dead one: Tidemark decides that
a lease expired only by watching it stay unchanged for a whole lease duration
on the observer's own clock. 'tidemark watch' does that watching and shows
UNCHANGED(OBSERVED), measured by its own clock across refreshes.`

func newLsCmd() *cobra.Command {
	var output *string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List partitions: owner, epoch, checkpoint, age",
		Long:    lsLong,
		Example: `  tidemark ls --store 'file:///var/lib/app/ckpt?prefix=orders/'
  tidemark ls -o json | jq -r '.[] | select(.state == "free") | .partition'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(*output); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				leases, corrupt, err := s.ListLeasesSkippingCorrupt(ctx)
				if err != nil {
					return err
				}
				sortLeases(leases)
				bad, corruptErr := corruptRows(s, corrupt)
				w := cmd.OutOrStdout()
				if *output == outputJSON {
					out := make([]leaseJSON, 0, len(leases)+len(bad))
					for _, l := range leases {
						out = append(out, leaseToJSON(l))
					}
					if err := writeJSON(w, append(out, bad...)); err != nil {
						return err
					}
					return corruptErr
				}
				if len(leases)+len(bad) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "No partitions in %s.\n", displayURL(cmd))
					return nil
				}
				now := time.Now()
				tw := newTable(w)
				row(tw, "PARTITION", "OWNER", "STATE", "EPOCH", "OFFSET", "SEQUENCE", "AGE(WRITER-CLOCK)")
				for _, l := range leases {
					row(tw, cell(l.PartitionID), orNone(l.Owner), state(l), fmt.Sprint(l.Epoch),
						offsetCell(l.Checkpoint), sequenceCell(l.Checkpoint), writerAge(l, now))
				}
				for _, b := range bad {
					row(tw, cell(b.Partition), "?", "corrupt", "?", "?", "?", "?")
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				return corruptErr
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

func newGetCmd() *cobra.Command {
	var output *string
	cmd := &cobra.Command{
		Use:   "get PARTITION",
		Short: "Show one partition's record in full",
		Long: `Show one partition's lease and checkpoint in full, including the owner's
metadata and the object key.

Updated is the writer's wall-clock time of the last write, shown with its age
against this machine's clock: informational only (see 'tidemark ls --help').`,
		Example: `  tidemark get 7
  tidemark get 7 -o json`,
		Args: exactArgs("PARTITION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(*output); err != nil {
				return err
			}
			id := args[0]
			if err := checkIDs([]string{id}); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				l, found, err := s.GetLease(ctx, id)
				if err != nil {
					return err
				}
				if !found {
					return fmt.Errorf("%w: %q in %s (list them with 'tidemark ls')", blobstore.ErrPartitionNotFound, id, displayURL(cmd))
				}
				w := cmd.OutOrStdout()
				if *output == outputJSON {
					return writeJSON(w, leaseToJSON(l))
				}
				tw := newTable(w)
				row(tw, "Partition:", cell(l.PartitionID))
				row(tw, "Key:", cell(s.Prefix()+l.PartitionID+recordSuffix))
				row(tw, "Owner:", orNone(l.Owner))
				row(tw, "State:", state(l))
				row(tw, "Epoch:", fmt.Sprint(l.Epoch))
				row(tw, "Offset:", offsetCell(l.Checkpoint))
				row(tw, "Sequence:", sequenceCell(l.Checkpoint))
				row(tw, "Metadata:", orNone(l.Metadata))
				updated := none
				if !l.UpdatedAt.IsZero() {
					updated = fmt.Sprintf("%s (%s ago, writer's clock)", l.UpdatedAt.UTC().Format(time.RFC3339), writerAge(l, time.Now()))
				}
				row(tw, "Updated:", updated)
				return tw.Flush()
			})
		},
	}
	output = addOutputFlag(cmd)
	return cmd
}

// displayURL is the store URL fit for printing.
func displayURL(cmd *cobra.Command) string {
	u, err := storeURL(cmd)
	if err != nil {
		return "<no store>"
	}
	return redactURL(u)
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}

// exactArgs wants exactly the named arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s wants %s, got %d argument(s)", cmd.Name(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs wants at least n arguments, named name.
func minArgs(n int, name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s wants at least %d %s", cmd.Name(), n, name)
		}
		return nil
	}
}
