package demo

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// drawer writes frames: in place on a terminal, as plain blocks otherwise.
type drawer struct {
	out   io.Writer
	live  bool
	lines int
}

func newDrawer(out io.Writer, live bool) *drawer { return &drawer{out: out, live: live} }

func (d *drawer) frame(lines []string) {
	var b strings.Builder
	if d.live && d.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.lines) // back to the top of the last frame
	}
	for _, l := range lines {
		if d.live {
			b.WriteString("\x1b[2K") // clear the line
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if !d.live {
		b.WriteByte('\n')
	}
	d.lines = len(lines)
	io.WriteString(d.out, b.String())
}

// render draws the ownership view: one letter per partition, then per host.
func (r *run) render(elapsed time.Duration) []string {
	letter := map[string]string{}
	for _, h := range r.hosts {
		letter[h.store.Owner()] = h.letter
	}
	ids := make([]string, 0, len(r.view.leases))
	byID := map[string]string{}
	for _, l := range r.view.leases {
		ids = append(ids, l.PartitionID)
		byID[l.PartitionID] = l.Owner
	}
	sort.Slice(ids, func(i, j int) bool { return numLess(ids[i], ids[j]) })
	var rows []string
	var row strings.Builder
	count := map[string]int{}
	for i, id := range ids {
		if i > 0 && i%16 == 0 {
			rows, row = append(rows, row.String()), strings.Builder{}
		}
		l := "."
		if o := byID[id]; o != "" {
			l = letter[o]
			count[l]++
		}
		row.WriteString(" " + l)
	}
	rows = append(rows, row.String())
	produced, calls, dups, _ := r.log.totals()
	lines := []string{fmt.Sprintf("t=%5.1fs   partitions, one letter per owner (. = free)", elapsed.Seconds())}
	for i, rw := range rows {
		label := "             "
		if i == 0 {
			label = "  ownership  "
		}
		lines = append(lines, label+rw)
	}
	for _, h := range r.hosts {
		st := h.host.Stats()
		lines = append(lines, fmt.Sprintf("  host %s  %-8s %2d partitions  %5d checkpoints  %2d taken over, %2d handed over, %2d lost",
			h.letter, h.state, count[h.letter], st.Checkpoints, st.Claims+st.Steals, st.Shed, st.Lost))
	}
	lines = append(lines, fmt.Sprintf("  events     %d produced, %d processed, %d processed twice", produced, calls, dups))
	return lines
}

func numLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// Print writes the closing summary.
func Print(w io.Writer, s Summary) {
	check := func(ok bool) string {
		if ok {
			return "ok  "
		}
		return "FAIL"
	}
	hosts := make([]string, 0, len(s.Balance))
	lo, hi := 1<<30, -1
	for h, n := range s.Balance {
		hosts = append(hosts, fmt.Sprintf("%s=%d", h, n))
		lo, hi = min(lo, n), max(hi, n)
	}
	sort.Strings(hosts)
	fmt.Fprintf(w, "\nsummary (%d hosts, %d partitions, %s)\n", s.Hosts, s.Partitions, s.StoreURL)
	if s.FailoverMissing {
		fmt.Fprintf(w, "  failover      host %s killed: its partitions were NOT all taken over\n", s.KilledHost)
	} else {
		fmt.Fprintf(w, "  failover      host %s killed: all its partitions owned again after %v (bound: lease + renew + one cycle = %v)\n",
			s.KilledHost, s.Failover.Round(time.Millisecond), s.FailoverBound)
	}
	if s.HandoffMissing {
		fmt.Fprintf(w, "  handoff       host %s stopped: its partitions were NOT all taken over\n", s.StoppedHost)
	} else {
		fmt.Fprintf(w, "  handoff       host %s stopped gracefully: all its partitions owned again after %v (bound: one cycle = %v)\n",
			s.StoppedHost, s.Handoff.Round(time.Millisecond), s.HandoffBound)
	}
	fmt.Fprintf(w, "  balance       %s at the end (max-min = %d); %d handed over gracefully, %d stolen\n",
		strings.Join(hosts, " "), hi-lo, s.Shed, s.Steals)
	fmt.Fprintf(w, "  events        %d produced, %d processed, %d processed more than once, %d never processed\n",
		s.Produced, s.Processed, s.Duplicates, s.Missed)
	fmt.Fprintf(w, "  checkpoints   %d written\n", s.Checkpoints)
	fmt.Fprintf(w, "  invariants\n")
	fmt.Fprintf(w, "    %s never two owners of one partition at one epoch\n", check(!hasViolation(s, "owners", "opened")))
	fmt.Fprintf(w, "    %s checkpoints never went backwards\n", check(!hasViolation(s, "went back")))
	fmt.Fprintf(w, "    %s every event processed at least once (%d missed)\n", check(s.Missed == 0), s.Missed)
	fmt.Fprintf(w, "    %s every partition released with its last event checkpointed\n", check(!hasViolation(s, "still owned", "final checkpoint")))
	fmt.Fprintf(w, "    %s failover within its bound (the observer polls every 100ms)\n", check(s.FailoverOK()))
	fmt.Fprintf(w, "    %s graceful handoff within its bound\n", check(s.HandoffOK()))
	for _, v := range s.Violations {
		fmt.Fprintf(w, "  violation: %s\n", v)
	}
}

func hasViolation(s Summary, words ...string) bool {
	for _, v := range s.Violations {
		for _, w := range words {
			if strings.Contains(v, w) {
				return true
			}
		}
	}
	return false
}
