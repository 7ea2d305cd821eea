// Command kinesis consumes an Amazon Kinesis data stream with a Tidemark
// processor host: run it on as many machines as you like, and they share the
// stream's shards, with leases and checkpoints in an S3 bucket (or any
// Tidemark store URL) instead of a DynamoDB table.
//
//	go run ./examples/kinesis -stream orders \
//	    -store 's3://my-bucket?region=eu-west-1&prefix=orders/billing/'
//
// On kinesalite (scripts/emulators.sh start kinesalite minio):
//
//	go run ./examples/kinesis -stream orders -endpoint http://127.0.0.1:4567 \
//	    -store 'file:///tmp/orders-checkpoints'
//
// It prints each record, checkpoints every 10 seconds (and on every
// handover), and stops gracefully on SIGINT or SIGTERM: it checkpoints what
// it processed, releases its shards and leaves the group, so another host
// takes them over within one balancing cycle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/kinesis"
	"github.com/tidemark/tidemark/processor"
	_ "github.com/tidemark/tidemark/s3" // s3:// store URLs; add gcs and azblob likewise
)

func main() {
	stream := flag.String("stream", "", "Kinesis stream name (required)")
	storeURL := flag.String("store", "", "Tidemark store URL for leases and checkpoints (required)")
	endpoint := flag.String("endpoint", "", "Kinesis endpoint, for kinesalite or LocalStack (default: AWS)")
	name := flag.String("name", "", "this host's name in the group (default: hostname-pid)")
	flag.Parse()
	if *stream == "" || *storeURL == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*stream, *storeURL, *endpoint, *name); err != nil {
		fmt.Fprintln(os.Stderr, "kinesis:", err)
		os.Exit(1)
	}
}

func run(stream, storeURL, endpoint, name string) error {
	// Cancelled on SIGINT or SIGTERM: Run then hands over gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	src, err := kinesis.NewSource(client, stream, &kinesis.Options{Start: kinesis.TrimHorizon, Logger: logger})
	if err != nil {
		return err
	}

	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	store, err := blobstore.Open(ctx, storeURL, &blobstore.Options{Owner: name})
	if err != nil {
		return err
	}
	defer store.Close()

	host, err := processor.New(store, src, func(string) processor.Processor { return printer{} },
		&processor.Options{
			Checkpoint: processor.CheckpointPolicy{EveryInterval: 10 * time.Second},
			Logger:     logger,
		})
	if err != nil {
		return err
	}
	logger.Info("consuming", "stream", stream, "host", name)
	return host.Run(ctx) // until SIGINT or SIGTERM
}

// printer prints every record and marks it processed.
type printer struct{}

func (printer) Open(_ context.Context, p *processor.Partition) error {
	fmt.Printf("open %s after %q\n", p.ID, p.Start.Offset)
	return nil
}

func (printer) Process(ctx context.Context, p *processor.Partition, records []processor.Event) error {
	for _, r := range records {
		fmt.Printf("%s %s %s\n", p.ID, r.Key, r.Body)
	}
	// Marks every record up to the last as processed; the host writes the
	// checkpoint as its policy says (here: every 10 s, and before a handover).
	err := p.Checkpoint(ctx, records[len(records)-1])
	if errors.Is(err, blobstore.ErrLeaseLost) {
		return nil // another host owns the shard now; this one stops reading it
	}
	return err
}

func (printer) Close(_ context.Context, p *processor.Partition, reason processor.CloseReason) error {
	fmt.Printf("close %s: %s\n", p.ID, reason)
	return nil
}
