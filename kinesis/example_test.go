package kinesis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/kinesis"
	"github.com/tidemark/tidemark/processor"
	_ "github.com/tidemark/tidemark/s3" // s3:// store URLs
)

type handler struct{}

func (handler) Open(context.Context, *processor.Partition) error { return nil }

func (handler) Process(ctx context.Context, p *processor.Partition, records []processor.Event) error {
	for _, r := range records {
		fmt.Println(p.ID, r.Key, string(r.Body))
	}
	return p.Checkpoint(ctx, records[len(records)-1])
}

func (handler) Close(context.Context, *processor.Partition, processor.CloseReason) error { return nil }

// A host of a consumer group on the stream "orders", with its leases and
// checkpoints in an S3 bucket. It needs AWS (this example is compiled, not
// run; TestExampleProgram runs examples/kinesis, its complete form, on
// kinesalite).
func ExampleNewSource() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // cancel to stop: the host checkpoints, releases its shards and leaves
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	src, err := kinesis.NewSource(awskinesis.NewFromConfig(cfg), "orders", &kinesis.Options{Start: kinesis.TrimHorizon})
	if err != nil {
		panic(err)
	}
	store, err := blobstore.Open(ctx, "s3://my-bucket?region=eu-west-1&prefix=orders/billing/", nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	host, err := processor.New(store, src, func(string) processor.Processor { return handler{} },
		&processor.Options{Checkpoint: processor.CheckpointPolicy{EveryInterval: 10 * time.Second}})
	if err != nil {
		panic(err)
	}
	if err := host.Run(ctx); err != nil {
		panic(err)
	}
}
