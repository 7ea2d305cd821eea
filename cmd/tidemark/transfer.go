package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

func init() { commands = append(commands, newExportCmd, newImportCmd) }

// The export document: a versioned envelope around every partition's
// record. It is what import reads, and what rewind --to-file accepts.
//
//	{
//	  "format": "tidemark-export",
//	  "version": 1,
//	  "source": "s3://bucket?prefix=orders%2F&region=eu-west-1",  // credentials redacted
//	  "prefix": "orders/",
//	  "exported_at": "2026-11-23T21:40:00Z",
//	  "partitions": [
//	    {"partition": "0", "owner": "host-a", "epoch": 3,
//	     "checkpoint": {"offset": "4096", "sequence": 57},   // null when none
//	     "metadata": "", "updated": "2026-11-23T21:39:58Z"}
//	  ],
//	  "corrupt": [{"key": "orders/7.json", "error": "…"}]  // only when some record could not be read
//	}
const (
	exportFormat  = "tidemark-export"
	exportVersion = 1
)

type exportDoc struct {
	Format     string            `json:"format"`
	Version    int               `json:"version"`
	Source     string            `json:"source"`
	Prefix     string            `json:"prefix"`
	ExportedAt time.Time         `json:"exported_at"`
	Partitions []exportPartition `json:"partitions"`
	// Corrupt names the records that could not be read and are therefore
	// missing from Partitions: an export with them is incomplete.
	Corrupt []exportCorrupt `json:"corrupt,omitempty"`
}

// exportCorrupt is a record an export left out because it cannot be read.
type exportCorrupt struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

type exportPartition struct {
	Partition  string    `json:"partition"`
	Owner      string    `json:"owner"`
	Epoch      uint64    `json:"epoch"`
	Checkpoint *position `json:"checkpoint"`
	Metadata   string    `json:"metadata"`
	Updated    time.Time `json:"updated"`
}

func (p exportPartition) checkpoint() *blobstore.Checkpoint {
	if p.Checkpoint == nil {
		return nil
	}
	return p.Checkpoint.checkpoint(p.Partition)
}

// decodeExport parses and validates an export document.
func decodeExport(data []byte, name string) (*exportDoc, error) {
	var doc exportDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not a tidemark export document: %w", name, err)
	}
	switch {
	case doc.Format != exportFormat:
		return nil, fmt.Errorf("%s is not a tidemark export document (format %q, want %q)", name, doc.Format, exportFormat)
	case doc.Version != exportVersion:
		return nil, fmt.Errorf("%s has export version %d; this tidemark reads version %d", name, doc.Version, exportVersion)
	}
	seen := map[string]bool{}
	for i, p := range doc.Partitions {
		if err := blobstore.ValidatePartitionID(p.Partition); err != nil {
			return nil, fmt.Errorf("%s: partition %d: %w", name, i, err)
		}
		if seen[p.Partition] {
			return nil, fmt.Errorf("%s: partition %q appears twice", name, p.Partition)
		}
		seen[p.Partition] = true
		if cp := p.checkpoint(); cp != nil {
			if err := validateCheckpoint(*cp); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if len(p.Metadata) > blobstore.MaxMetadataLen {
			return nil, fmt.Errorf("%s: partition %q: metadata over %d bytes", name, p.Partition, blobstore.MaxMetadataLen)
		}
	}
	return &doc, nil
}

func newExportCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export [-f FILE]",
		Short: "Write every partition's record to a JSON document (backup, or a move to another store)",
		Long: `Write every partition of the store to a JSON document on stdout, or to FILE
with -f (written to a temporary file and renamed, so FILE is never half
written).

The document is a versioned envelope: format "tidemark-export", version 1,
the source store URL (credentials redacted), the prefix, the export time, and
per partition its checkpoint, epoch, owner, metadata and last update time.
'tidemark import' restores it into any store, on any provider; 'tidemark
rewind --to-file' rewinds to the checkpoints it holds.

An export is one listing and one read per partition, not a snapshot taken at
one instant: partitions that live hosts are working on keep moving while it
runs.

A record that cannot be read is left out of the partitions and named in the
document's "corrupt" list; the rest is exported, and export then exits 1
naming it (see 'tidemark rm --corrupt').`,
		Example: `  tidemark export -f billing.json
  tidemark export --store file:///var/lib/app/ckpt | tidemark import -f - --store 's3://ckpt?region=eu-west-1' --execute`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				leases, corrupt, err := s.ListLeasesSkippingCorrupt(ctx)
				if err != nil {
					return err
				}
				sortLeases(leases)
				_, corruptErr := corruptRows(s, corrupt)
				doc := exportDoc{Format: exportFormat, Version: exportVersion, Source: displayURL(cmd),
					Prefix: s.Prefix(), ExportedAt: time.Now().UTC().Round(time.Millisecond),
					Partitions: make([]exportPartition, 0, len(leases))}
				for _, l := range leases {
					doc.Partitions = append(doc.Partitions, exportPartition{Partition: l.PartitionID, Owner: l.Owner,
						Epoch: l.Epoch, Checkpoint: positionOf(l.Checkpoint), Metadata: l.Metadata, Updated: l.UpdatedAt})
				}
				for _, c := range corrupt {
					doc.Corrupt = append(doc.Corrupt, exportCorrupt{Key: c.Key, Error: c.Reason})
				}
				var buf bytes.Buffer
				if err := writeJSON(&buf, doc); err != nil {
					return err
				}
				if file == "" || file == "-" {
					if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
						return err
					}
					return corruptErr
				}
				if err := writeFileAtomic(file, buf.Bytes()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Exported %d partitions from %s to %s.\n", len(doc.Partitions), doc.Source, file)
				return corruptErr
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to `FILE` instead of stdout")
	return cmd
}

// writeFileAtomic writes data to a temporary file beside name, syncs it and
// renames it over name.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, unwrapPathError(err))
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, unwrapPathError(err))
	}
	return nil
}

const importLong = `Restore an export document into the store named by --store: create the
partitions it lacks, and give every partition of the document its checkpoint
and metadata. The target may be on another provider than the source, so
export and import also move a group (for example from file:// to s3://).

Without --execute, import shows the plan and writes nothing; --execute creates
the store if it does not exist yet (a cloud bucket or container must exist).

What is restored and what is not:
  checkpoint  restored exactly, forwards or backwards; a partition exported
              without a checkpoint ends up without one (its consumers start
              from their configured initial position, not from offset -1)
  metadata    restored; to write it, import holds the partition's lease for a
              moment (owner ` + "\"tidemark-cli@HOST-PID\"" + `), which bumps the epoch once
  owner       not restored: leases belong to live hosts, which re-acquire them
  epoch       not restored: the target's epochs continue from its own history
              (a new store starts at 0). Systems downstream that fence on the
              epoch must not compare epochs across the move
Partitions already in the target but not in the document are left alone. A
partition already at the document's checkpoint and metadata is left alone,
so importing twice is harmless.

` + fencingHelp

func newImportCmd() *cobra.Command {
	var file string
	var f *planFlags
	cmd := &cobra.Command{
		Use:   "import -f FILE",
		Short: "Restore an export document into a store (a plan unless --execute)",
		Long:  importLong,
		Example: `  tidemark import -f billing.json --store 's3://ckpt?region=eu-west-1&prefix=billing/'            # plan
  tidemark import -f billing.json --store 's3://ckpt?region=eu-west-1&prefix=billing/' --execute  # apply`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			if file == "" {
				return usageErrorf("import needs -f FILE (- for stdin)")
			}
			data, err := readInput(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			doc, err := decodeExport(data, file)
			if err != nil {
				return err
			}
			if len(doc.Corrupt) > 0 {
				keys := make([]string, 0, len(doc.Corrupt))
				for _, c := range doc.Corrupt {
					keys = append(keys, c.Key)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Note: %s is incomplete: its source had %d unreadable record(s), not restored: %s.\n",
					file, len(keys), escapeControls(strings.Join(keys, ", ")))
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				leases, err := s.ListLeases(ctx)
				missingStore := errors.Is(err, blobstore.ErrStoreNotFound)
				if err != nil && !missingStore {
					return err
				}
				current := make(map[string]blobstore.Lease, len(leases))
				for _, l := range leases {
					current[l.PartitionID] = l
				}
				parts := append([]exportPartition(nil), doc.Partitions...)
				sort.SliceStable(parts, func(i, j int) bool { return lessPartition(parts[i].Partition, parts[j].Partition) })
				rows := make([]*planRow, 0, len(parts))
				for _, p := range parts {
					l, exists := current[p.Partition]
					r := planImport(p, l, exists, f)
					r.apply = importApply(s, r, p, f.force)
					rows = append(rows, r)
				}
				if missingStore && !f.execute && *f.output == outputTable {
					fmt.Fprintf(cmd.OutOrStdout(), "The store %s does not exist yet: --execute creates it.\n\n", displayURL(cmd))
				}
				if missingStore && f.execute {
					if err := s.CreateStoreIfNotExists(ctx); err != nil {
						return err
					}
				}
				return runPlan(ctx, cmd, rows, f)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the export document `FILE` to read (- for stdin)")
	f = addPlanFlags(cmd)
	return cmd
}

// planImport decides one partition of an import.
func planImport(p exportPartition, l blobstore.Lease, exists bool, f *planFlags) *planRow {
	want := p.checkpoint()
	if !exists {
		r := &planRow{Partition: p.Partition, New: want, Action: "create"}
		if want == nil {
			r.Action += " without a checkpoint"
		}
		if p.Metadata != "" {
			r.Action += ", restore metadata"
		}
		return r
	}
	r := rowFromLease(l)
	r.New = want
	var parts []string
	if !sameCheckpoint(l.Checkpoint, want) {
		if want == nil {
			parts = append(parts, "remove checkpoint")
		} else {
			parts = append(parts, "set")
		}
	}
	if l.Metadata != p.Metadata {
		parts = append(parts, "restore metadata")
	}
	if len(parts) == 0 {
		r.Skip = "none: already there"
		return r
	}
	r.Action = joinComma(parts)
	f.judge(r)
	return r
}

func joinComma(parts []string) string { return strings.Join(parts, ", ") }

// importApply is the apply of an import row.
func importApply(s *blobstore.Store, r *planRow, p exportPartition, force bool) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		want := p.checkpoint()
		var done []string
		l, found, err := s.GetLease(ctx, p.Partition)
		if err != nil {
			return "", err
		}
		if !found {
			if l, err = s.CreateLeaseIfNotExists(ctx, p.Partition); err != nil {
				return "", err
			}
			done = append(done, "created")
		}
		metaDiff := l.Metadata != p.Metadata
		if !metaDiff && sameCheckpoint(l.Checkpoint, want) {
			return doneResult(done), nil
		}
		if !metaDiff && want != nil {
			// The common case: one conditional write, refused while held
			// unless forced, fencing the owner when forced.
			nl, err := s.SetCheckpoint(ctx, *want, &blobstore.EditOptions{Force: force})
			if err != nil {
				return "", err
			}
			if l.Owner != "" && nl.Epoch > l.Epoch {
				done = append(done, fmt.Sprintf("%s fenced, epoch now %d", l.Owner, nl.Epoch))
			}
			return doneResult(done), nil
		}
		if !metaDiff && l.Owner == "" {
			// want is nil: remove the checkpoint of a free partition.
			if err := s.DeleteCheckpoint(ctx, p.Partition); err != nil {
				return "", err
			}
			return doneResult(done), nil
		}
		// Metadata is written by an owner only (and a checkpoint is removed
		// safely only while no one else holds the lease): take the lease for
		// the moment it takes, fencing a holder first when forced.
		if l.Owner != "" {
			if !force {
				return "", fmt.Errorf("%w: %q is held by %q (epoch %d)", blobstore.ErrLeaseHeld, p.Partition, l.Owner, l.Epoch)
			}
			fl, err := s.ForceRelease(ctx, p.Partition)
			if err != nil {
				return "", err
			}
			done = append(done, fmt.Sprintf("%s fenced, epoch now %d", l.Owner, fl.Epoch))
		}
		lease, err := s.Acquire(ctx, p.Partition)
		if err != nil {
			return "", err
		}
		err = func() error {
			if want != nil {
				if err := s.UpdateCheckpoint(ctx, lease, *want); err != nil {
					return err
				}
			} else if err := s.DeleteCheckpoint(ctx, p.Partition); err != nil {
				return err
			}
			return s.UpdateLease(ctx, lease, p.Metadata)
		}()
		// Release even after a failure, so the partition is not left held
		// by this tool until it expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := s.Release(rctx, lease); err == nil {
			err = rerr
		}
		if err != nil {
			return "", err
		}
		return doneResult(done), nil
	}
}

func doneResult(done []string) string {
	if len(done) == 0 {
		return "done"
	}
	return "done: " + joinComma(done)
}
