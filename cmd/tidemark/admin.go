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
						fmt.Fprintf(w, "Created %d partitions.\n", created)
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
						fmt.Fprintf(w, "Partition %s was already free (epoch %d).\n", id, after.Epoch)
					case before.Owner == "":
						fmt.Fprintf(w, "Partition %s released: its new owner was fenced, epoch now %d.\n", id, after.Epoch)
					default:
						fmt.Fprintf(w, "Partition %s released: %s fenced, epoch %d -> %d.\n", id, before.Owner, before.Epoch, after.Epoch)
					}
				}
				return nil
			})
		},
	}
	return cmd
}

func newRmCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm PARTITION...",
		Aliases: []string{"delete"},
		Short:   "Delete partitions: lease, checkpoint and metadata",
		Long: `Delete each partition's record: its lease, checkpoint and metadata. Deleting
a partition that does not exist succeeds.

A held partition is refused unless --force, which first fences its owner (as
'tidemark release' does) and then deletes the record; the owner's next write
fails with "lease lost". A host that acquires the partition again later starts
it afresh (a new record with no checkpoint history).

A corrupt record cannot be deleted with rm: remove the object with the
provider's tools after inspecting it.`,
		Example: `  tidemark rm 9
  tidemark rm 9 10 --force`,
		Args: minArgs(1, "PARTITION"),
		RunE: func(cmd *cobra.Command, args []string) error {
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
						fmt.Fprintf(w, "Partition %s does not exist.\n", id)
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
						note = fmt.Sprintf(" (%s fenced)", l.Owner)
					}
					if err := s.DeleteLease(ctx, id); err != nil {
						if errors.Is(err, blobstore.ErrLeaseHeld) && force {
							return fmt.Errorf("partition %q: a host acquired it between the release and the delete; run rm again", id)
						}
						return err
					}
					fmt.Fprintf(w, "Partition %s deleted%s.\n", id, note)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete held partitions too, fencing their owners")
	return cmd
}
