package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

func init() { commands = append(commands, newSetCmd, newRewindCmd) }

const fencingHelp = `Held partitions: a partition whose record names an owner is held. It is
refused unless --force. A forced edit fences the owner: it clears the owner and
bumps the epoch in the same conditional write, so the owner's next checkpoint
fails with "lease lost" instead of silently overwriting the edit, and the
partition is free for any host to acquire (it resumes from the new
checkpoint). One look cannot tell a live owner from a dead one: the record of
a crashed host names it until another host takes the partition over, so it is
held too. 'tidemark watch' shows whether the owner is still writing.`

func newSetCmd() *cobra.Command {
	var (
		offset   string
		sequence int64
	)
	var f *planFlags
	cmd := &cobra.Command{
		Use:   "set PARTITION --offset OFFSET --sequence N",
		Short: "Set one partition's checkpoint (a plan unless --execute)",
		Long: `Set one partition's checkpoint to OFFSET and sequence number N, backwards or
forwards. Both are required: a consumer may resume from either, so changing
one alone would leave the other pointing somewhere else.

Without --execute, set shows the plan and writes nothing.

` + fencingHelp,
		Example: `  tidemark set 3 --offset 81920 --sequence 1200             # show the plan
  tidemark set 3 --offset 81920 --sequence 1200 --execute   # apply it
  tidemark set 3 --offset 81920 --sequence 1200 --execute --force   # even if held`,
		Args: exactArgs("PARTITION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			if !cmd.Flags().Changed("offset") || !cmd.Flags().Changed("sequence") {
				return usageErrorf("set needs both --offset and --sequence")
			}
			if offset == "" {
				return usageErrorf("the offset of partition %q is empty (the start of the stream is %q)", args[0], blobstore.StartOfStream)
			}
			cp := blobstore.Checkpoint{PartitionID: args[0], Offset: offset, SequenceNumber: sequence}
			if err := checkCheckpoint(cp); err != nil {
				return err
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				leases, err := getLeases(ctx, s, []string{cp.PartitionID})
				if err != nil {
					return err
				}
				r := rowFromLease(leases[0])
				planSet(r, &cp, f)
				r.apply = setCheckpointApply(s, r, f.force)
				return runPlan(ctx, cmd, []*planRow{r}, f)
			})
		},
	}
	cmd.Flags().StringVar(&offset, "offset", "", "the new `OFFSET` (opaque to Tidemark; -1 is the start of the stream)")
	cmd.Flags().Int64Var(&sequence, "sequence", 0, "the new sequence number `N`")
	f = addPlanFlags(cmd)
	return cmd
}

// planSet decides a row that is to get checkpoint cp.
func planSet(r *planRow, cp *blobstore.Checkpoint, f *planFlags) {
	r.New = cp
	if sameCheckpoint(r.Cur, cp) {
		r.Skip = "none: already there"
		return
	}
	r.Action = "set"
	f.judge(r)
}

// checkIDs validates partition ids given on the command line: a bad one is a
// usage error, reported before any I/O.
func checkIDs(ids []string) error {
	for _, id := range ids {
		if err := blobstore.ValidatePartitionID(id); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// checkCheckpoint validates a checkpoint given on the command line before
// any I/O: a bad one is a usage error.
func checkCheckpoint(cp blobstore.Checkpoint) error {
	if err := validateCheckpoint(cp); err != nil {
		return usageError{err}
	}
	return nil
}

// validateCheckpoint validates a checkpoint from the command line or a file.
func validateCheckpoint(cp blobstore.Checkpoint) error {
	if err := blobstore.ValidatePartitionID(cp.PartitionID); err != nil {
		return err
	}
	switch {
	case cp.Offset == "" && cp.SequenceNumber == blobstore.NoSequenceNumber:
		return fmt.Errorf("the checkpoint of partition %q has neither an offset nor a sequence number", cp.PartitionID)
	case len(cp.Offset) > blobstore.MaxOffsetLen:
		return fmt.Errorf("the offset of partition %q is longer than %d bytes", cp.PartitionID, blobstore.MaxOffsetLen)
	case cp.SequenceNumber < -1 && cp.SequenceNumber != blobstore.NoSequenceNumber:
		return fmt.Errorf("the sequence number of partition %q is %d, below -1", cp.PartitionID, cp.SequenceNumber)
	}
	return nil
}

// getLeases reads the named partitions, failing on the first one that does
// not exist: a typo must not turn into a partial plan.
func getLeases(ctx context.Context, s *blobstore.Store, ids []string) ([]blobstore.Lease, error) {
	out := make([]blobstore.Lease, 0, len(ids))
	for _, id := range ids {
		l, found, err := s.GetLease(ctx, id)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: %q (create it with 'tidemark init %s')", blobstore.ErrPartitionNotFound, id, id)
		}
		out = append(out, l)
	}
	return out, nil
}

const rewindLong = `Move the checkpoints of many partitions back. Choose the partitions by name
or with --all, and the target with exactly one of:

  --to-start                  offset -1, sequence 0: the start of the stream,
                              what a fresh checkpoint holds
  --to-sequence N --offset O  sequence N at offset O. Tidemark never interprets
                              offsets, so it cannot find the offset of sequence
                              N itself: look it up in your stream and pass it.
                              Setting the sequence alone would leave the old
                              offset in place, and a consumer that resumes from
                              the offset would silently ignore the rewind. The
                              same offset is used for every partition named,
                              so name one partition unless your stream's
                              offsets are the same across partitions (e.g.
                              Kafka, where the offset is the sequence).
  --to-file FILE              per-partition positions from a JSON file: the
                              output of 'tidemark ls -o json' or of 'tidemark
                              export' taken earlier ('-' reads stdin). Only the
                              partitions in the file (and named, if any are)
                              are planned; entries without a checkpoint are
                              left alone.

With --all, a record that cannot be read is shown as corrupt and left alone,
the others are rewound, and rewind then exits 1 naming it (see 'tidemark rm
--corrupt').

A rewind never moves a partition forward: a partition whose current sequence
number is below the target is refused (skipping events is 'tidemark set').
A partition already at the target is left alone.

Without --execute, rewind shows the plan and writes nothing. An executed plan
exits non-zero if any partition was refused or failed.

` + fencingHelp

func newRewindCmd() *cobra.Command {
	var (
		all      bool
		toStart  bool
		toSeq    int64
		offset   string
		fromFile string
	)
	var f *planFlags
	cmd := &cobra.Command{
		Use:   "rewind (PARTITION... | --all) (--to-start | --to-sequence N --offset O | --to-file FILE)",
		Short: "Move partitions back to the start or to a sequence number (a plan unless --execute)",
		Long:  rewindLong,
		Example: `  tidemark rewind --all --to-start                      # plan: every partition to the start
  tidemark rewind --all --to-start --execute            # apply it
  tidemark rewind 3 --to-sequence 1200 --offset 81920   # one partition, offset looked up in the stream
  tidemark ls -o json > before.json                     # ... later, back to where it was:
  tidemark rewind --to-file before.json --execute --force`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			fl := cmd.Flags()
			modes := 0
			for _, on := range []bool{toStart, fl.Changed("to-sequence"), fromFile != ""} {
				if on {
					modes++
				}
			}
			switch {
			case modes != 1:
				return usageErrorf("rewind needs exactly one of --to-start, --to-sequence N --offset O, --to-file FILE")
			case fl.Changed("to-sequence") != fl.Changed("offset"):
				return usageErrorf("--to-sequence and --offset go together: Tidemark cannot tell which offset holds a sequence number")
			case fromFile == "" && all == (len(args) > 0):
				return usageErrorf("name the partitions to rewind, or pass --all (not both)")
			case fromFile != "" && all:
				return usageErrorf("--to-file takes its partitions from the file; --all does not apply")
			}
			if err := checkIDs(args); err != nil {
				return err
			}
			// targets maps each partition to plan to its target.
			var targets map[string]*blobstore.Checkpoint
			if fromFile != "" {
				var err error
				if targets, err = readPositions(cmd.InOrStdin(), fromFile); err != nil {
					return err
				}
				if len(args) > 0 {
					named := map[string]*blobstore.Checkpoint{}
					for _, id := range args {
						cp, ok := targets[id]
						if !ok {
							return fmt.Errorf("%w: %q is not in %s", blobstore.ErrPartitionNotFound, id, fromFile)
						}
						named[id] = cp
					}
					targets = named
				}
			}
			target := func(id string) *blobstore.Checkpoint {
				switch {
				case targets != nil:
					return targets[id]
				case toStart:
					return &blobstore.Checkpoint{PartitionID: id, Offset: blobstore.StartOfStream}
				}
				return &blobstore.Checkpoint{PartitionID: id, Offset: offset, SequenceNumber: toSeq}
			}
			if targets == nil {
				if err := checkCheckpoint(*target("0")); err != nil {
					return err
				}
			}
			return withStore(cmd, nil, func(ctx context.Context, s *blobstore.Store) error {
				var leases []blobstore.Lease
				var corrupt []*blobstore.CorruptRecordError
				var err error
				switch {
				case all:
					leases, corrupt, err = s.ListLeasesSkippingCorrupt(ctx)
				case targets != nil && len(args) == 0:
					ids := make([]string, 0, len(targets))
					for id := range targets {
						ids = append(ids, id)
					}
					leases, err = getLeases(ctx, s, ids)
				case targets != nil:
					leases, err = getLeases(ctx, s, args)
				default:
					leases, err = getLeases(ctx, s, dedupe(args))
				}
				if err != nil {
					return err
				}
				sortLeases(leases)
				rows := make([]*planRow, 0, len(leases))
				for _, l := range leases {
					r := rowFromLease(l)
					rows = append(rows, r)
					cp := target(l.PartitionID)
					if cp == nil {
						r.Skip = "none: no checkpoint in the file"
						continue
					}
					if !toStart && r.Cur != nil && cp.SequenceNumber != blobstore.NoSequenceNumber && r.Cur.SequenceNumber != blobstore.NoSequenceNumber &&
						cp.SequenceNumber > r.Cur.SequenceNumber {
						r.New = cp
						r.Skip = fmt.Sprintf("refused: would move forward (sequence %d -> %d); use 'tidemark set'",
							r.Cur.SequenceNumber, cp.SequenceNumber)
						r.Refused = true
						continue
					}
					planSet(r, cp, f)
					r.apply = setCheckpointApply(s, r, f.force)
				}
				// Unreadable records are listed and left alone; the rest
				// is planned (and applied) as usual, then rewind fails
				// naming them, as ls does.
				bad, corruptErr := corruptRows(s, corrupt)
				for _, b := range bad {
					rows = append(rows, &planRow{Partition: b.Partition, Exists: true, Corrupt: true,
						Skip: "none: corrupt record, left as it is"})
				}
				if len(rows) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "No partitions in %s.\n", displayURL(cmd))
					return nil
				}
				if err := runPlan(ctx, cmd, rows, f); err != nil {
					if corruptErr != nil {
						return fmt.Errorf("%w; %w", err, corruptErr)
					}
					return err
				}
				return corruptErr
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&all, "all", false, "rewind every partition of the store")
	fl.BoolVar(&toStart, "to-start", false, "rewind to the start of the stream (offset -1, sequence 0)")
	fl.Int64Var(&toSeq, "to-sequence", 0, "rewind to sequence number `N` (needs --offset)")
	fl.StringVar(&offset, "offset", "", "the `OFFSET` of the event at --to-sequence, looked up in the stream")
	fl.StringVar(&fromFile, "to-file", "", "rewind to the positions in JSON `FILE` (ls -o json or export output; - for stdin)")
	f = addPlanFlags(cmd)
	return cmd
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// positionsEntry is what a positions file holds per partition; both shapes
// tidemark writes (ls -o json, export) have these two fields.
type positionsEntry struct {
	Partition  string    `json:"partition"`
	Checkpoint *position `json:"checkpoint"`
}

// readPositions reads a positions file: a JSON array of entries (ls -o json)
// or an export document. A partition without a checkpoint maps to nil. A file
// that cannot be read or is not a positions file is an operation's failure,
// not a usage error: the command line was right.
func readPositions(stdin io.Reader, name string) (map[string]*blobstore.Checkpoint, error) {
	data, err := readInput(stdin, name)
	if err != nil {
		return nil, err
	}
	var entries []positionsEntry
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, fmt.Errorf("%s: not a list of partitions as 'tidemark ls -o json' prints: %w", name, err)
		}
	} else {
		doc, err := decodeExport(data, name)
		if err != nil {
			return nil, fmt.Errorf("%w (want 'tidemark ls -o json' or 'tidemark export' output)", err)
		}
		for _, p := range doc.Partitions {
			entries = append(entries, positionsEntry{Partition: p.Partition, Checkpoint: p.Checkpoint})
		}
	}
	out := make(map[string]*blobstore.Checkpoint, len(entries))
	for i, e := range entries {
		if err := blobstore.ValidatePartitionID(e.Partition); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", name, i, err)
		}
		if _, dup := out[e.Partition]; dup {
			return nil, fmt.Errorf("%s: partition %q appears twice", name, e.Partition)
		}
		if e.Checkpoint == nil {
			out[e.Partition] = nil
			continue
		}
		cp := e.Checkpoint.checkpoint(e.Partition)
		if err := validateCheckpoint(*cp); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[e.Partition] = cp
	}
	return out, nil
}

// readInput reads a named file, or stdin for "-".
func readInput(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, unwrapPathError(err))
	}
	return data, nil
}

// unwrapPathError drops the path an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
