package processor_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/processor"
)

// printer processes events by counting them and checkpointing every one.
type printer struct {
	mu    *sync.Mutex
	total *int
}

func (p printer) Open(context.Context, *processor.Partition) error { return nil }

func (p printer) Process(ctx context.Context, pt *processor.Partition, events []processor.Event) error {
	p.mu.Lock()
	*p.total += len(events)
	p.mu.Unlock()
	return pt.Checkpoint(ctx, events[len(events)-1])
}

func (p printer) Close(context.Context, *processor.Partition, processor.CloseReason) error {
	return nil
}

// One host processes a four-partition stream and hands over on shutdown.
func Example() {
	ctx := context.Background()
	store, err := blobstore.Open(ctx, "mem://example-group", &blobstore.Options{
		Owner: "host-a", LeaseDuration: 3 * time.Second, RenewInterval: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	src := processor.NewMemorySource(4)
	for i := 0; i < 20; i++ {
		_, _ = src.Append(fmt.Sprint(i%4), []byte("event"))
	}
	var mu sync.Mutex
	total := 0
	host, err := processor.New(store, src, func(string) processor.Processor {
		return printer{mu: &mu, total: &total}
	}, nil)
	if err != nil {
		log.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- host.Run(runCtx) }()
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n == 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop() // graceful: checkpoints flushed, leases released
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	cp, _, _ := store.GetCheckpoint(ctx, "2")
	fmt.Println("events processed:", total)
	fmt.Println("partition 2 checkpointed at sequence", cp.SequenceNumber)
	// Output:
	// events processed: 20
	// partition 2 checkpointed at sequence 5
}
