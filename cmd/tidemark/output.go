package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tidemark/tidemark/blobstore"
)

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// addOutputFlag adds -o/--output to cmd and returns where its value lands.
func addOutputFlag(cmd *cobra.Command) *string {
	var out string
	cmd.Flags().StringVarP(&out, "output", "o", outputTable, "output `FORMAT`: table or json")
	return &out
}

// checkOutput validates an --output value.
func checkOutput(v string) error {
	if v != outputTable && v != outputJSON {
		return usageErrorf("--output must be table or json, got %q", v)
	}
	return nil
}

// newTable returns a tab writer laid out like kubectl's tables.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const none = "<none>"

// orNone is a stored string as a cell: <none> when empty, escaped (see
// cell) when it holds a control character.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return cell(s)
}

// humanDuration renders d the way kubectl renders ages: 45s, 3m12s, 5h3m,
// 2d4h. A negative d (a writer's clock ahead of ours) keeps its sign.
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	s := int64(d / time.Second)
	switch {
	case d < time.Second:
		return "0s"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 48*3600:
		if (s/60)%60 == 0 {
			return fmt.Sprintf("%dh", s/3600)
		}
		return fmt.Sprintf("%dh%dm", s/3600, (s/60)%60)
	default:
		days, hours := s/86400, (s%86400)/3600
		if hours == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, hours)
	}
}

// writerAge is how long ago the record's writer stamped it, by the writer's
// clock against ours: informational only.
func writerAge(l blobstore.Lease, now time.Time) string {
	if l.UpdatedAt.IsZero() {
		return none
	}
	return humanDuration(now.Sub(l.UpdatedAt))
}

// lessPartition orders partition ids naturally: numbers by value ("2" before
// "10"), then everything else by bytes.
func lessPartition(a, b string) bool {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		if na != nb {
			return na < nb
		}
		return a < b // "07" and "7"
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}

func sortLeases(ls []blobstore.Lease) {
	sort.SliceStable(ls, func(i, j int) bool { return lessPartition(ls[i].PartitionID, ls[j].PartitionID) })
}

// state names a lease's state for tables: held or free, and in watch
// expired (held, but silent for a lease duration by our own clock).
func state(l blobstore.Lease) string {
	switch {
	case l.Owner == "":
		return "free"
	case l.Expired:
		return "expired"
	}
	return "held"
}

// position is a checkpoint as JSON shows it; null stands for an absent
// offset or sequence number.
type position struct {
	Offset   *string `json:"offset"`
	Sequence *int64  `json:"sequence"`
}

// UnmarshalJSON requires both fields, each a value or null, and not both
// null: a position read back from a file without its sequence number must
// not silently become sequence 0.
func (p *position) UnmarshalJSON(data []byte) error {
	var in struct {
		Offset   json.RawMessage `json:"offset"`
		Sequence json.RawMessage `json:"sequence"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	if in.Offset == nil || in.Sequence == nil {
		return errors.New("a checkpoint needs both \"offset\" and \"sequence\" (null for one it lacks)")
	}
	var out position
	if err := json.Unmarshal(in.Offset, &out.Offset); err != nil {
		return fmt.Errorf("offset: %w", err)
	}
	if err := json.Unmarshal(in.Sequence, &out.Sequence); err != nil {
		return fmt.Errorf("sequence: %w", err)
	}
	if out.Offset == nil && out.Sequence == nil {
		return errors.New("a checkpoint needs an offset or a sequence number")
	}
	*p = out
	return nil
}

// checkpoint returns the store's form of p.
func (p *position) checkpoint(id string) *blobstore.Checkpoint {
	cp := &blobstore.Checkpoint{PartitionID: id, SequenceNumber: blobstore.NoSequenceNumber}
	if p.Offset != nil {
		cp.Offset = *p.Offset
	}
	if p.Sequence != nil {
		cp.SequenceNumber = *p.Sequence
	}
	return cp
}

func positionOf(cp *blobstore.Checkpoint) *position {
	if cp == nil {
		return nil
	}
	var p position
	if cp.Offset != "" {
		off := cp.Offset
		p.Offset = &off
	}
	if cp.SequenceNumber != blobstore.NoSequenceNumber {
		seq := cp.SequenceNumber
		p.Sequence = &seq
	}
	return &p
}

func offsetCell(cp *blobstore.Checkpoint) string {
	if cp == nil {
		return none
	}
	return cell(cp.Offset)
}

func sequenceCell(cp *blobstore.Checkpoint) string {
	if cp == nil || cp.SequenceNumber == blobstore.NoSequenceNumber {
		return none
	}
	return strconv.FormatInt(cp.SequenceNumber, 10)
}

// Stored strings (partition ids, owners, offsets, metadata, host names) are
// written by other programs, so a table or text line never prints them raw:
// an ESC could clear the operator's screen or move the cursor, a newline or
// tab could forge a row, a bidi override could reorder what is read. JSON
// output carries the exact bytes: the JSON encoder escapes them.

// unsafeRune reports whether r must not reach a terminal as it is: a C0
// control (tab and newline included), DEL, a C1 control, a Unicode bidi
// control, or the replacement for invalid UTF-8.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // ALM, LRM, RLM, LRE..RLO, LRI..PDI
	}
	return r == utf8.RuneError
}

// needsEscape reports whether s holds a rune unsafeRune refuses, or is not
// valid UTF-8.
func needsEscape(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, unsafeRune) >= 0
}

// cell returns a stored string fit for a table cell or a text line: as it is
// when it is safe, else quoted with Go escapes ("\x1b[2J\nEVIL"), so nothing
// in it acts on the terminal and the quotes show that it was escaped.
func cell(s string) string {
	if !needsEscape(s) {
		return s
	}
	return strconv.Quote(s)
}

// escapeControls returns a message fit for a terminal: each unsafe rune is
// replaced by its Go escape (\x1b, \u202e), the rest left as it is. It is for
// sentences that embed stored strings, where quoting the whole would mislead.
func escapeControls(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
			b.WriteString(`\ufffd`)
		case unsafeRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
