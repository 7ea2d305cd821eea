package processor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/clocktest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Hardening item 5: one corrupt record must not stop the group. Hosts start,
// create the records of the partitions that sort after it, balance and
// process every readable partition, and report the unreadable one once per
// change, not once per cycle; a record that turns corrupt while they run
// stops only its partition, quietly.
func TestCorruptRecordDoesNotStopTheGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("corrupt-%d", time.Now().UnixNano())
	bkt := membucket.Open(ns)
	op, err := blobstore.New(bkt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	// Partition 1 is garbage before any host starts; 2..5 have no record.
	if _, err := bkt.Put(ctx, "1.json", []byte("{not json"), ""); err != nil {
		t.Fatal(err)
	}
	src := NewMemorySource(6)
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs syncBuffer
	var hosts []*Host
	for _, name := range []string{"a", "b"} {
		s, err := blobstore.New(membucket.Open(ns), &blobstore.Options{Owner: name, Clock: clock,
			LeaseDuration: testLease, RenewInterval: testRenew})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h, err := New(s, src, func(string) Processor { return lostProc{&lostRecorder{lost: map[string]int{}}} },
			&Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.start(ctx); err != nil {
			t.Fatalf("host %s did not start beside a corrupt record: %v", name, err)
		}
		hosts = append(hosts, h)
	}
	owned := func() map[string]string {
		m := map[string]string{}
		for _, h := range hosts {
			for _, id := range h.Owned() {
				m[id] = h.Name()
			}
		}
		return m
	}
	for range 10 {
		for _, h := range hosts {
			h.cycle(ctx)
		}
		clock.Advance(testRenew)
	}
	got := owned()
	for _, id := range []string{"0", "2", "3", "4", "5"} {
		if got[id] == "" {
			t.Errorf("readable partition %s is not processed (owned: %v)", id, got)
		}
	}
	if got["1"] != "" {
		t.Errorf("the corrupt partition 1 is processed by %s", got["1"])
	}
	if n := strings.Count(logs.String(), `key=1.json`); n != len(hosts) {
		t.Errorf("the corrupt record was reported %d times over 10 cycles of %d hosts, want once per host:\n%s", n, len(hosts), logs.String())
	}

	// Partition 3 turns corrupt under its owner: only it stops, once.
	before := strings.Count(logs.String(), "level=WARN")
	if _, err := bkt.Put(ctx, "3.json", []byte(`{"schema":1`), mustVersion(ctx, t, bkt, "3.json")); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		for _, h := range hosts {
			h.cycle(ctx)
		}
		clock.Advance(testRenew)
	}
	got = owned()
	if got["3"] != "" {
		t.Errorf("partition 3 is still processed by %s after its record turned corrupt", got["3"])
	}
	for _, id := range []string{"0", "2", "4", "5"} {
		if got[id] == "" {
			t.Errorf("readable partition %s stopped when partition 3 turned corrupt (owned: %v)", id, got)
		}
	}
	if warns := strings.Count(logs.String(), "level=WARN") - before; warns > 2*len(hosts) {
		t.Errorf("%d warnings over 10 cycles after one record turned corrupt, want at most 2 per host:\n%s", warns, logs.String())
	}
	for _, h := range hosts {
		h.stop(true)
	}
}

func mustVersion(ctx context.Context, t *testing.T, b *membucket.Bucket, key string) string {
	t.Helper()
	obj, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return obj.Version
}
