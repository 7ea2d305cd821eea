package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

func init() { commands = append(commands, newInitCmd, newReleaseCmd, newRmCmd) }

func newInitCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "init [PARTITION...]",
		Short: "Create the store, and optionally its partitions",
		Long: `Create the store (its marker object; for file:// also the directory) if it
does not exist, and create the partitions named, or 0..N-1 with
--partitions N, free and with a checkpoint at the start of the stream (offset
-1, sequence 0). Existing partitions are left as they are, so init is safe to
run again.

init does not create cloud buckets or containers: create them with the
provider's tools first.`,
		Example: `  tidemark init --store 'file:///var/lib/app/ckpt?prefix=orders/'
  tidemark init --partitions 8
  tidemark init eu-1 eu-2 us-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return usageErrorf("--partitions must not be negative, got %d", count)
			}
			ids := dedupe(args)
			for i := 0; i < count; i++ {
				ids = append(ids, strconv.Itoa(i))
			}
			ids = dedupe(ids)
			if err := checkIDs(ids); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				existed, err := s.StoreExists(ctx)
				if err != nil {
					return err
				}
				if err := s.CreateStoreIfNotExists(ctx); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if existed {
					fmt.Fprintf(w, "Store %s already exists.\n", displayURL(cmd))
				} else {
					fmt.Fprintf(w, "Created store %s.\n", displayURL(cmd))
				}
				created := 0
				for _, id := range ids {
					_, found, err := s.GetLease(ctx, id)
					if err != nil {
						return err
					}
					if found {
						continue
					}
					if _, err := s.CreateLeaseIfNotExists(ctx, id); err != nil {
						return err
					}
					created++
				}
				if len(ids) > 0 {
					if created == len(ids) {
						fmt.Fprintf(w, "Created %d partition%s.\n", created, plural(created))
					} else {
						fmt.Fprintf(w, "Created %d of %d partitions (the others existed).\n", created, len(ids))
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&count, "partitions", 0, "also create partitions 0..`N`-1")
	return cmd
}

func newReleaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release PARTITION...",
		Short: "End a partition's lease, fencing its owner",
		Long: `End each partition's lease, whoever holds it: the owner is cleared and the
epoch bumped in one conditional write. The owner's next write (checkpoint or
renewal) fails with "lease lost", so it stops working on the partition, and
any host may acquire the lease at once. The checkpoint and metadata stay.

Use it to move a partition off a stuck or misbehaving host without waiting
for the lease to expire. Releasing a free partition changes nothing.`,
		Example: `  tidemark release 3
  tidemark release 3 4 5`,
		Args: minArgs(1, "PARTITION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := dedupe(args)
			if err := checkIDs(ids); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				w := cmd.OutOrStdout()
				for _, id := range ids {
					before, found, err := s.GetLease(ctx, id)
					if err != nil {
						return err
					}
					if !found {
						return fmt.Errorf("%w: %q", blobstore.ErrPartitionNotFound, id)
					}
					after, err := s.ForceRelease(ctx, id)
					if err != nil {
						return err
					}
					switch {
					case before.Owner == "" && after.Epoch == before.Epoch:
						fmt.Fprintf(w, "Partition %s was already free (epoch %d).\n", cell(id), after.Epoch)
					case before.Owner == "":
						fmt.Fprintf(w, "Partition %s released: its new owner was fenced, epoch now %d.\n", cell(id), after.Epoch)
					default:
						fmt.Fprintf(w, "Partition %s released: %s fenced, epoch %d -> %d.\n", cell(id), cell(before.Owner), before.Epoch, after.Epoch)
					}
				}
				return nil
			})
		},
	}
	return cmd
}

func newRmCmd() *cobra.Command {
	var force, corrupt, execute bool
	cmd := &cobra.Command{
		Use:     "rm (PARTITION... | --corrupt KEY-or-PARTITION...)",
		Aliases: []string{"delete"},
		Short:   "Delete partitions: lease, checkpoint and metadata",
		Long: `Delete each partition's record: its lease, checkpoint and metadata. Deleting
a partition that does not exist succeeds.

A held partition is refused unless --force, which first fences its owner (as
'tidemark release' does) and then deletes the record; the owner's next write
fails with "lease lost". A host that acquires the partition again later starts
it afresh (a new record with no checkpoint history).

A record that cannot be read (shown as corrupt by ls) is never deleted by
plain rm. 'rm --corrupt' is the explicit way: name the record by partition id
or by key (PREFIX+ID.json, as ls and the errors print it). Without --execute
it shows the plan: the key, what is wrong, the size and the first bytes of
what is stored (escaped). With --execute it removes the record only if it
still holds those same bytes, so a record repaired or rewritten meanwhile is
left alone. A record that reads fine is refused.`,
		Example: `  tidemark rm 9
  tidemark rm 9 10 --force
  tidemark rm --corrupt orders/billing/2.json             # show what is stored
  tidemark rm --corrupt orders/billing/2.json --execute   # remove it`,
		Args: minArgs(1, "PARTITION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if corrupt {
				if force {
					return usageErrorf("--force does not apply to --corrupt: a corrupt record has no owner to fence")
				}
				return runRmCorrupt(cmd, args, execute)
			}
			ids := dedupe(args)
			if err := checkIDs(ids); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				w := cmd.OutOrStdout()
				for _, id := range ids {
					l, found, err := s.GetLease(ctx, id)
					if err != nil {
						return err
					}
					if !found {
						fmt.Fprintf(w, "Partition %s does not exist.\n", cell(id))
						continue
					}
					note := ""
					if l.Owner != "" {
						if !force {
							return fmt.Errorf("%w: %q is held by %q (epoch %d)", blobstore.ErrLeaseHeld, id, l.Owner, l.Epoch)
						}
						if _, err := s.ForceRelease(ctx, id); err != nil {
							return err
						}
						note = fmt.Sprintf(" (%s fenced)", cell(l.Owner))
					}
					if err := s.DeleteLease(ctx, id); err != nil {
						if errors.Is(err, blobstore.ErrLeaseHeld) && force {
							return fmt.Errorf("partition %q: a host acquired it between the release and the delete; run rm again", id)
						}
						return err
					}
					fmt.Fprintf(w, "Partition %s deleted%s.\n", cell(id), note)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete held partitions too, fencing their owners")
	cmd.Flags().BoolVar(&corrupt, "corrupt", false, "remove records that cannot be read (a plan unless --execute)")
	cmd.Flags().BoolVar(&execute, "execute", false, "with --corrupt: remove the records (without it, only show them); plain rm deletes at once")
	return cmd
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
