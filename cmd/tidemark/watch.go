package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

func init() { commands = append(commands, newWatchCmd) }

const watchLong = `Show who owns which partition, refreshed every --interval until interrupted
(Ctrl-C) or, with --count N, after N refreshes. On a terminal the view is
redrawn in place; otherwise each refresh is appended as a plain snapshot (one
JSON object per line with -o json).

Columns:
  OWNER, STATE, EPOCH, OFFSET, SEQUENCE   as in 'tidemark ls'
  UNCHANGED(OBSERVED)  how long THIS process has seen the record without a
                       write, by its own monotonic clock: no other machine's
                       clock is involved. It starts at 0 on the first refresh
                       and resets on every write (a checkpoint or a renewal).
  STATE expired        held, but unchanged for at least --lease-duration:
                       the owner has stopped renewing, and any host may take
                       the partition (this is how Tidemark decides expiry)

There is no LAG column, because a record cannot tell it: a record holds where
the group is (its checkpoint), not where the stream ends, and only the stream
knows that. The hosts report their lag: the tidemark.host.lag metric
(processor.Options.MeterProvider; 'tidemark demo --metrics-addr' serves it)
and processor.Host.Lag.

A HOSTS section lists the hosts that announce themselves, with the number of
partitions each owns. Set --lease-duration to the group's lease duration.
--timeout bounds each refresh; a refresh that fails is reported and the next
one tried.

A record that cannot be read is shown as a corrupt row, and the others as
usual; when watch ends, it exits 1 naming the corrupt records its last
refresh found (see 'tidemark rm --corrupt').`

func newWatchCmd() *cobra.Command {
	var (
		interval, leaseDur time.Duration
		count              int
	)
	var output *string
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "A live view of partition ownership, refreshed until interrupted",
		Long:  watchLong,
		Example: `  tidemark watch
  tidemark watch --interval 5s --lease-duration 60s
  tidemark watch --count 1 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(*output); err != nil {
				return err
			}
			switch {
			case interval <= 0:
				return usageErrorf("--interval must be positive, got %v", interval)
			case leaseDur <= 0:
				return usageErrorf("--lease-duration must be positive, got %v", leaseDur)
			case count < 0:
				return usageErrorf("--count must not be negative, got %d", count)
			}
			raw, err := storeURL(cmd)
			if err != nil {
				return err
			}
			timeout, err := commandTimeout(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			openCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			// One Store for the whole watch: its observations across
			// refreshes are what UNCHANGED(OBSERVED) and expiry are made of.
			s, err := blobstore.Open(openCtx, raw, &blobstore.Options{Owner: cliOwner(), LeaseDuration: leaseDur, Logger: logger(cmd)})
			if err != nil {
				return err
			}
			defer s.Close()
			v := &watchView{w: cmd.OutOrStdout(), tty: isTerminal(cmd.OutOrStdout()), json: *output == outputJSON,
				url: redactURL(raw), interval: interval, leaseDur: leaseDur, errw: cmd.ErrOrStderr(), rawURL: raw}
			if jsonLog(cmd) {
				v.log = logger(cmd)
			}
			ticker := time.NewTicker(interval)
			defer ticker.Stop()
			for n := 1; ; n++ {
				rctx, rcancel := context.WithTimeout(ctx, timeout)
				rctx = withTimeoutNote(rctx, timeout)
				snap, err := takeSnapshot(rctx, s)
				err = timedOut(rctx, err)
				rcancel()
				if ctx.Err() != nil {
					return v.corruptErr // interrupted: a clean stop
				}
				if err != nil && n == 1 {
					return err // the first look failed: nothing to watch
				}
				if err := v.draw(snap, err); err != nil {
					return err
				}
				if count > 0 && n >= count {
					return v.corruptErr
				}
				select {
				case <-ctx.Done():
					return v.corruptErr
				case <-ticker.C:
				}
			}
		},
	}
	fl := cmd.Flags()
	fl.DurationVarP(&interval, "interval", "n", 2*time.Second, "time between refreshes")
	fl.DurationVar(&leaseDur, "lease-duration", blobstore.DefaultLeaseDuration, "the group's lease duration: held records unchanged this long show as expired")
	fl.IntVar(&count, "count", 0, "stop after `N` refreshes (0: until interrupted)")
	output = addOutputFlag(cmd)
	return cmd
}

type snapshot struct {
	at     time.Time
	leases []blobstore.Lease
	hosts  []blobstore.Host
	// corrupt lists the records that could not be read, as ls shows them,
	// and corruptErr names them.
	corrupt    []leaseJSON
	corruptErr error
}

func takeSnapshot(ctx context.Context, s *blobstore.Store) (snapshot, error) {
	leases, corrupt, err := s.ListLeasesSkippingCorrupt(ctx)
	if err != nil {
		return snapshot{}, err
	}
	hosts, err := s.ListHosts(ctx)
	if err != nil {
		return snapshot{}, err
	}
	sortLeases(leases)
	bad, corruptErr := corruptRows(s, corrupt)
	return snapshot{at: time.Now(), leases: leases, hosts: hosts, corrupt: bad, corruptErr: corruptErr}, nil
}

type watchView struct {
	w, errw  io.Writer
	tty      bool
	json     bool
	url      string
	rawURL   string
	interval time.Duration
	leaseDur time.Duration
	frames   int
	// corruptErr names the corrupt records of the last successful refresh:
	// what watch exits with.
	corruptErr error
	// log, with --log-format json, takes the failed refreshes' reports.
	log *slog.Logger
}

// watchJSON is one refresh as -o json prints it (one line each).
type watchJSON struct {
	Time       time.Time   `json:"time"`
	Partitions []leaseJSON `json:"partitions"`
	Hosts      []hostJSON  `json:"hosts"`
}

type hostJSON struct {
	Name                string    `json:"name"`
	State               string    `json:"state"`
	Partitions          int       `json:"partitions"`
	Updated             time.Time `json:"updated"`
	UnchangedForSeconds float64   `json:"unchanged_for_seconds"`
}

// draw prints one refresh; a failed refresh (err) keeps the last view and
// reports the failure.
func (v *watchView) draw(snap snapshot, err error) error {
	v.frames++
	if err != nil {
		if v.log != nil {
			v.log.Warn("refresh failed; trying again at the next interval", "err", explain(err, v.rawURL))
			return nil
		}
		fmt.Fprintf(v.errw, "tidemark: refresh failed at %s: %s\n", time.Now().Format(time.TimeOnly),
			escapeControls(scrubSecrets(explain(err, v.rawURL), v.rawURL)))
		return nil
	}
	v.corruptErr = snap.corruptErr
	owned := map[string]int{}
	for _, l := range snap.leases {
		if l.Owner != "" {
			owned[l.Owner]++
		}
	}
	if v.json {
		out := watchJSON{Time: snap.at.UTC(), Partitions: []leaseJSON{}, Hosts: []hostJSON{}}
		for _, l := range snap.leases {
			j := leaseToJSON(l)
			secs := l.UnchangedFor.Seconds()
			j.UnchangedForSeconds = &secs
			out.Partitions = append(out.Partitions, j)
		}
		out.Partitions = append(out.Partitions, snap.corrupt...)
		for _, h := range snap.hosts {
			out.Hosts = append(out.Hosts, hostJSON{Name: h.Name, State: hostState(h), Partitions: owned[h.Name],
				Updated: h.UpdatedAt, UnchangedForSeconds: h.UnchangedFor.Seconds()})
		}
		return encodeLine(v.w, out)
	}
	var b strings.Builder
	if v.tty {
		b.WriteString("\x1b[H\x1b[2J") // home, clear screen
	} else if v.frames > 1 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Every %v: %s    %s\n\n", v.interval, v.url, snap.at.Format("2006-01-02 15:04:05"))
	tw := newTable(&b)
	row(tw, "PARTITION", "OWNER", "STATE", "EPOCH", "OFFSET", "SEQUENCE", "UNCHANGED(OBSERVED)")
	for _, l := range snap.leases {
		row(tw, cell(l.PartitionID), orNone(l.Owner), state(l), fmt.Sprint(l.Epoch),
			offsetCell(l.Checkpoint), sequenceCell(l.Checkpoint), humanDuration(l.UnchangedFor))
	}
	for _, c := range snap.corrupt {
		row(tw, cell(c.Partition), "?", "corrupt", "?", "?", "?", "?")
	}
	_ = tw.Flush()
	if len(snap.leases)+len(snap.corrupt) == 0 {
		b.WriteString("(no partitions)\n")
	}
	// Hosts: those announcing themselves, and owners that do not.
	names := map[string]bool{}
	for _, h := range snap.hosts {
		names[h.Name] = true
	}
	var silent []string
	for o := range owned {
		if !names[o] {
			silent = append(silent, o)
		}
	}
	sort.Strings(silent)
	if len(snap.hosts)+len(silent) > 0 {
		b.WriteString("\n")
		tw = newTable(&b)
		row(tw, "HOST", "STATE", "PARTITIONS", "UNCHANGED(OBSERVED)")
		for _, h := range snap.hosts {
			row(tw, cell(h.Name), hostState(h), fmt.Sprint(owned[h.Name]), humanDuration(h.UnchangedFor))
		}
		for _, o := range silent {
			row(tw, cell(o), "<no presence record>", fmt.Sprint(owned[o]), none)
		}
		_ = tw.Flush()
	}
	free := 0
	for _, l := range snap.leases {
		if l.Free() {
			free++
		}
	}
	fmt.Fprintf(&b, "\n%d partitions, %d free or expired; expiry after %v unchanged.\n", len(snap.leases)+len(snap.corrupt), free, v.leaseDur)
	if snap.corruptErr != nil {
		fmt.Fprintf(&b, "%s.\n", escapeControls(trimPrefix(snap.corruptErr.Error())))
	}
	_, err = io.WriteString(v.w, b.String())
	return err
}

func hostState(h blobstore.Host) string {
	if h.Expired {
		return "expired"
	}
	return "live"
}

// encodeLine writes v as one line of JSON.
func encodeLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
