package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

// A plan is what set, rewind and import show before they change anything:
// one row per partition with its current state, the checkpoint it would get
// and what --execute would do. The dry run is the default; --execute applies
// the rows that have an action.

// planRow is one partition of a plan.
type planRow struct {
	Partition string
	Exists    bool // the partition has a record (import may create it)
	Owner     string
	Epoch     uint64
	Cur       *blobstore.Checkpoint
	New       *blobstore.Checkpoint // nil: the partition is to have no checkpoint (import)
	Held      bool
	// Corrupt marks a record that cannot be read (rewind --all lists it and
	// leaves it alone): its other fields are unknown.
	Corrupt bool

	// Action is what --execute does; "" when nothing is to be written, and
	// then Skip says why. Refused marks a skip that is a refusal (held
	// without --force, a forward move in a rewind): it makes an executed
	// plan fail.
	Action  string
	Skip    string
	Refused bool

	// After --execute.
	Result string
	Failed bool

	// apply carries out Action; set by the command that built the plan.
	apply func(ctx context.Context) (string, error)
}

// planFlags are the flags every planning command takes.
type planFlags struct {
	execute bool
	dryRun  bool
	force   bool
	output  *string
}

func addPlanFlags(cmd *cobra.Command) *planFlags {
	f := &planFlags{}
	fs := cmd.Flags()
	fs.BoolVar(&f.execute, "execute", false, "apply the plan (without it, only show it)")
	fs.BoolVar(&f.dryRun, "dry-run", true, "only show the plan; the default, overridden by --execute")
	fs.BoolVar(&f.force, "force", false, "edit held partitions too, fencing their owners (owner cleared, epoch bumped)")
	f.output = addOutputFlag(cmd)
	return f
}

func (f *planFlags) check(cmd *cobra.Command) error {
	switch {
	case f.execute && cmd.Flags().Changed("dry-run") && f.dryRun:
		return usageErrorf("--dry-run and --execute contradict each other")
	case !f.dryRun && !f.execute:
		return usageErrorf("--dry-run=false does not apply a plan: use --execute")
	}
	return checkOutput(*f.output)
}

// judge fills in the refusal for a held partition, or the fencing note when
// forced. It is called after the command decided the row's Action.
func (f *planFlags) judge(r *planRow) {
	if r.Action == "" || !r.Held {
		return
	}
	if !f.force {
		r.Skip = fmt.Sprintf("refused: held by %s (add --force to fence it)", r.Owner)
		r.Action, r.Refused = "", true
		return
	}
	r.Action += fmt.Sprintf(", fencing %s (epoch %d -> %d)", r.Owner, r.Epoch, r.Epoch+1)
}

// executePlan applies the rows with an action, a few at a time, and records
// their results. It returns the number of rows refused or failed.
func executePlan(ctx context.Context, rows []*planRow, storeURL string) int {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, r := range rows {
		if r.Action == "" || r.apply == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := r.apply(ctx)
			switch {
			case err == nil:
				r.Result = res
			case errors.Is(err, blobstore.ErrLeaseHeld):
				r.Refused = true
				r.Result = "refused: " + scrubSecrets(trimPrefix(err.Error()), storeURL) + " (add --force to fence it)"
			default:
				r.Failed = true
				r.Result = "failed: " + scrubSecrets(explain(timedOut(ctx, err), storeURL), storeURL)
			}
		})
	}
	wg.Wait()
	bad := 0
	for _, r := range rows {
		if r.Refused || r.Failed {
			bad++
		}
	}
	return bad
}

// planJSON is a plan row as -o json prints it.
type planJSON struct {
	Partition string    `json:"partition"`
	Exists    bool      `json:"exists"`
	Owner     string    `json:"owner"`
	Epoch     uint64    `json:"epoch"`
	Held      bool      `json:"held"`
	Current   *position `json:"current"`
	New       *position `json:"new"`
	Action    string    `json:"action"`
	Skip      string    `json:"skip,omitempty"`
	Refused   bool      `json:"refused"`
	Result    string    `json:"result,omitempty"`
	Failed    bool      `json:"failed"`
	Corrupt   bool      `json:"corrupt,omitempty"`
}

// renderPlan prints the plan (dry run) or its results (executed).
func renderPlan(w io.Writer, rows []*planRow, f *planFlags, executed bool) error {
	if *f.output == outputJSON {
		out := make([]planJSON, 0, len(rows))
		for _, r := range rows {
			out = append(out, planJSON{Partition: r.Partition, Exists: r.Exists, Owner: r.Owner, Epoch: r.Epoch,
				Held: r.Held, Current: positionOf(r.Cur), New: positionOf(r.New), Action: r.Action, Skip: r.Skip,
				Refused: r.Refused, Result: r.Result, Failed: r.Failed, Corrupt: r.Corrupt})
		}
		return writeJSON(w, out)
	}
	last := "ACTION"
	if executed {
		last = "RESULT"
	}
	tw := newTable(w)
	row(tw, "PARTITION", "OWNER", "EPOCH", "OFFSET", "SEQUENCE", "NEW-OFFSET", "NEW-SEQUENCE", "HELD", last)
	for _, r := range rows {
		cur, curSeq := offsetCell(r.Cur), sequenceCell(r.Cur)
		if !r.Exists {
			cur, curSeq = "<missing>", "<missing>"
		}
		outcome := r.Action
		if outcome == "" {
			outcome = r.Skip
		}
		if executed && r.Result != "" {
			outcome = r.Result
		}
		if r.Corrupt {
			row(tw, cell(r.Partition), "?", "?", "?", "?", offsetCell(r.New), sequenceCell(r.New), "?", escapeControls(outcome))
			continue
		}
		row(tw, cell(r.Partition), orNone(r.Owner), fmt.Sprint(r.Epoch), cur, curSeq,
			offsetCell(r.New), sequenceCell(r.New), yesNo(r.Held), escapeControls(outcome))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if executed {
		return nil
	}
	todo, held := 0, 0
	for _, r := range rows {
		if r.Action != "" {
			todo++
		}
		if r.Held && r.Refused && !f.force {
			held++
		}
	}
	var notes []string
	notes = append(notes, fmt.Sprintf("Dry run: %d of %d partitions would change; nothing was written. Add --execute to apply.", todo, len(rows)))
	if held > 0 {
		notes = append(notes, fmt.Sprintf("%d held partition(s) would be refused: add --force to fence their owners.", held))
	}
	_, err := fmt.Fprintln(w, "\n"+strings.Join(notes, "\n"))
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// runPlan prints the plan, or executes it and prints the results. An
// executed plan with refused or failed rows is an error.
func runPlan(ctx context.Context, cmd *cobra.Command, rows []*planRow, f *planFlags) error {
	if !f.execute {
		return renderPlan(cmd.OutOrStdout(), rows, f, false)
	}
	raw, _ := storeURL(cmd)
	bad := executePlan(ctx, rows, raw)
	if err := renderPlan(cmd.OutOrStdout(), rows, f, true); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d partitions were not changed: see the RESULT column", bad, len(rows))
	}
	return nil
}

// setCheckpointApply is the apply of a set or rewind row.
func setCheckpointApply(s *blobstore.Store, r *planRow, force bool) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		l, err := s.SetCheckpoint(ctx, *r.New, &blobstore.EditOptions{Force: force})
		if err != nil {
			return "", err
		}
		if r.Held && l.Epoch > r.Epoch {
			return fmt.Sprintf("done: %s fenced, epoch now %d", r.Owner, l.Epoch), nil
		}
		return "done", nil
	}
}

// rowFromLease starts a plan row from a partition's current lease.
func rowFromLease(l blobstore.Lease) *planRow {
	return &planRow{Partition: l.PartitionID, Exists: true, Owner: l.Owner, Epoch: l.Epoch,
		Cur: l.Checkpoint, Held: l.Owner != ""}
}

func sameCheckpoint(a, b *blobstore.Checkpoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Offset == b.Offset && a.SequenceNumber == b.SequenceNumber
}
