package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/processor"
)

// HangFault is a provider test's handle on a transport that can stop
// forwarding, as a network path that hangs does: requests are sent nowhere
// and wait until their context ends.
type HangFault interface {
	// Hang makes every later request through the transport wait until its
	// context ends; Unhang restores it.
	Hang()
	Unhang()
}

// RunHungHost checks, on a provider's real transport, that a processor host
// whose network path hangs stops processing before another host can take its
// partitions over: host A (over drvA, whose transport f hangs) and host B
// (over drvB) share four partitions with events arriving all the time and a
// checkpoint every 500 events; A's path hangs; B takes A's partitions once
// their leases expire. It counts Process calls A begins on a partition after
// B opened it at a newer epoch: there must be none. The check takes about
// ten seconds of real time.
func RunHungHost(t *testing.T, drvA, drvB driver.Bucket, f HangFault) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "hung-" + randomHex(4) + "/"
	open := func(drv driver.Bucket, owner string) *blobstore.Store {
		s, err := blobstore.New(drv, &blobstore.Options{Prefix: prefix, Owner: owner,
			LeaseDuration: 3 * time.Second, RenewInterval: time.Second})
		noErr(t, "New", err)
		return s
	}
	sa, sb := open(drvA, "host-a"), open(drvB, "host-b")
	defer sa.Close()
	defer sb.Close()

	const partitions = 4
	src := processor.NewMemorySource(partitions)
	led := &hungLedger{openedB: map[string]uint64{}}
	newHost := func(s *blobstore.Store, isA bool) *processor.Host {
		h, err := processor.New(s, src, func(string) processor.Processor { return &hungProc{led: led, isA: isA} },
			&processor.Options{Checkpoint: processor.CheckpointPolicy{EveryEvents: 500}, MaxBatch: 10})
		noErr(t, "processor.New", err)
		return h
	}
	ha, hb := newHost(sa, true), newHost(sb, false)

	// Events arrive all the time (200 a second a partition, so a checkpoint
	// is due every 2.5 s and batches are processed between the writes),
	// bounded in count and time.
	prodCtx, stopProd := context.WithCancel(ctx)
	var prod sync.WaitGroup
	prod.Go(func() {
		for i := 0; i < 200_000 && prodCtx.Err() == nil; i++ {
			_, _ = src.Append(fmt.Sprint(i%partitions), []byte("e"))
			if i%partitions == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	defer func() { stopProd(); prod.Wait() }()

	run := func(h *processor.Host) (context.CancelCauseFunc, chan error) {
		hctx, stop := context.WithCancelCause(ctx)
		done := make(chan error, 1)
		go func() { done <- h.Run(hctx) }()
		return stop, done
	}
	stopA, doneA := run(ha)
	waitFor(t, "host A to own every partition", func() bool { return len(ha.Owned()) == partitions })
	stopB, doneB := run(hb)
	waitFor(t, "the group to balance", func() bool { return len(ha.Owned()) == partitions/2 && len(hb.Owned()) == partitions/2 })

	taken := ha.Owned()
	f.Hang()
	hangAt := time.Now()
	waitFor(t, "host B to take host A's partitions", func() bool { return len(hb.Owned()) == partitions })
	handover := time.Since(hangAt)
	time.Sleep(time.Second) // let a zombie show itself
	stopB(nil)
	noErr(t, "host B's Run", <-doneB)
	f.Unhang()
	stopA(processor.ErrAbandon)
	noErr(t, "host A's Run", <-doneA)

	led.mu.Lock()
	defer led.mu.Unlock()
	t.Logf("host A's partitions %v taken over %v after its path hung; A processed %d batches in all, %d after B opened the partition",
		taken, handover.Round(time.Millisecond), led.batchesA, led.zombie)
	if led.zombie != 0 {
		t.Fatalf("host A began %d Process calls on partitions host B had already opened at a newer epoch:\n%v", led.zombie, led.zombies)
	}
	for _, id := range taken {
		if _, ok := led.openedB[id]; !ok {
			t.Fatalf("host B never opened partition %s: the check saw no handover", id)
		}
	}
}

// hungLedger records, across both hosts, who opened what and when A worked.
type hungLedger struct {
	mu       sync.Mutex
	openedB  map[string]uint64 // partition -> epoch B opened it at
	batchesA int
	zombie   int
	zombies  []string
}

type hungProc struct {
	led *hungLedger
	isA bool
}

func (p *hungProc) Open(_ context.Context, pt *processor.Partition) error {
	if !p.isA {
		p.led.mu.Lock()
		p.led.openedB[pt.ID] = pt.Epoch
		p.led.mu.Unlock()
	}
	return nil
}

func (p *hungProc) Process(ctx context.Context, pt *processor.Partition, evs []processor.Event) error {
	if p.isA {
		p.led.mu.Lock()
		p.led.batchesA++
		if e, ok := p.led.openedB[pt.ID]; ok && e > pt.Epoch {
			p.led.zombie++
			p.led.zombies = append(p.led.zombies, fmt.Sprintf("partition %s: A at epoch %d, B at %d", pt.ID, pt.Epoch, e))
		}
		p.led.mu.Unlock()
	}
	err := pt.Checkpoint(ctx, evs[len(evs)-1])
	if errors.Is(err, blobstore.ErrLeaseLost) {
		return nil // processing stops; the host closes the partition
	}
	return err
}

func (p *hungProc) Close(context.Context, *processor.Partition, processor.CloseReason) error {
	return nil
}

// HangingTransport is an HTTP transport for RunHungHost: while hung it sends
// nothing and waits for each request's context, as a network path that
// stopped forwarding does; otherwise it passes requests to Next
// (http.DefaultTransport when nil). It serves as an http.RoundTripper (GCS)
// and as a client with Do (the AWS and Azure SDKs).
type HangingTransport struct {
	Next http.RoundTripper
	hung atomic.Bool
}

// Hang makes every later request wait until its context ends.
func (h *HangingTransport) Hang() { h.hung.Store(true) }

// Unhang lets requests through again.
func (h *HangingTransport) Unhang() { h.hung.Store(false) }

// RoundTrip implements http.RoundTripper.
func (h *HangingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.hung.Load() {
		<-req.Context().Done()
		return nil, fmt.Errorf("hung transport: %w", req.Context().Err())
	}
	next := h.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// Do is RoundTrip, for SDKs that take a client with a Do method.
func (h *HangingTransport) Do(req *http.Request) (*http.Response, error) { return h.RoundTrip(req) }
