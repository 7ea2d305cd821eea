package demo

import (
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/processor"
)

// ledger is the demo's record of what was produced, processed and opened.
type ledger struct {
	mu       sync.Mutex
	prod     map[string]int64           // partition -> events produced
	proc     map[string]map[int64]int32 // partition -> sequence -> times processed
	calls    int64
	epochs   map[string]string // partition/epoch -> host that opened it
	problems []string
}

func newLedger() *ledger {
	return &ledger{prod: map[string]int64{}, proc: map[string]map[int64]int32{}, epochs: map[string]string{}}
}

func (l *ledger) violate(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 50 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

func (l *ledger) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}

func (l *ledger) produced(id string) {
	l.mu.Lock()
	l.prod[id]++
	l.mu.Unlock()
}

func (l *ledger) producedIn(id string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.prod[id]
}

func (l *ledger) opened(id string, epoch uint64, host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := fmt.Sprintf("%s/%d", id, epoch)
	if prev, ok := l.epochs[k]; ok {
		l.problems = append(l.problems, fmt.Sprintf("partition %s opened at epoch %d by %s and by %s", id, epoch, prev, host))
	}
	l.epochs[k] = host
}

func (l *ledger) processed(id string, evs []processor.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.proc[id]
	if m == nil {
		m = map[int64]int32{}
		l.proc[id] = m
	}
	for _, ev := range evs {
		m[ev.SequenceNumber]++
		l.calls++
	}
}

// missing counts produced events not processed yet.
func (l *ledger) missing() (n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, p := range l.prod {
		n += p - int64(len(l.proc[id]))
	}
	return n
}

func (l *ledger) totals() (produced, processed, duplicates, missed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, p := range l.prod {
		produced += p
		m := l.proc[id]
		for seq := int64(1); seq <= p; seq++ {
			switch c := m[seq]; {
			case c == 0:
				missed++
			case c > 1:
				duplicates += int64(c - 1)
			}
		}
	}
	return produced, l.calls, duplicates, missed
}
