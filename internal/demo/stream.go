package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/tidemark/tidemark/kinesis"
	"github.com/tidemark/tidemark/processor"
)

// stream is what the demo consumes: a Source it can also produce to.
type stream interface {
	processor.Source
	// ids returns the partitions, in the order events are spread over them.
	ids() []string
	// append produces one event to each of ids (repeats allowed), in
	// order, and returns the ids whose event was stored.
	append(ctx context.Context, ids []string) []string
	// describe names the stream for the header line.
	describe() string
	close()
}

// memStream is the in-process stream.
type memStream struct {
	*processor.MemorySource
	parts []string
}

func newMemStream(n int) *memStream {
	s := &memStream{MemorySource: processor.NewMemorySource(n)}
	for i := range n {
		s.parts = append(s.parts, strconv.Itoa(i))
	}
	return s
}

func (s *memStream) ids() []string { return s.parts }

func (s *memStream) append(_ context.Context, ids []string) []string {
	out := ids[:0:0]
	for _, id := range ids {
		if _, err := s.Append(id, []byte("event")); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func (s *memStream) describe() string {
	return fmt.Sprintf("an in-process stream of %d partitions", len(s.parts))
}
func (s *memStream) close() {}

// kinesisStream is a Kinesis stream the demo creates, produces to (each
// record aimed at its shard by an explicit hash key) and deletes.
type kinesisStream struct {
	*kinesis.Source
	client   *awskinesis.Client
	name     string
	endpoint string
	parts    []string
	hashKeys map[string]string // shard -> its starting hash key
}

// kinesisClient returns a client for endpoint (kinesalite, LocalStack), or
// for AWS itself when endpoint is empty (credentials and region from the
// usual AWS configuration).
func kinesisClient(ctx context.Context, endpoint string) (*awskinesis.Client, error) {
	if endpoint == "" {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("demo: AWS configuration: %w", err)
		}
		return awskinesis.NewFromConfig(cfg), nil
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = "tidemark", "tidemark" // emulators check that requests are signed, not by whom
	}
	return awskinesis.New(awskinesis.Options{Region: region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN"))}), nil
}

func newKinesisStream(ctx context.Context, endpoint string, shards int, log *slog.Logger) (*kinesisStream, error) {
	c, err := kinesisClient(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "tidemark-demo-" + hex.EncodeToString(b[:])
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return nil, fmt.Errorf("demo: creating Kinesis stream %s at %s: %w", name, endpointName(endpoint), err)
	}
	s := &kinesisStream{client: c, name: name, endpoint: endpoint, hashKeys: map[string]string{}}
	if err := s.waitActive(ctx); err != nil {
		s.close()
		return nil, err
	}
	src, err := kinesis.NewSource(c, name, &kinesis.Options{IdleInterval: 200 * time.Millisecond, Logger: log})
	if err != nil {
		s.close()
		return nil, err
	}
	s.Source = src
	out, err := c.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("demo: listing the shards of %s: %w", name, err)
	}
	for _, sh := range out.Shards {
		id := aws.ToString(sh.ShardId)
		s.parts = append(s.parts, id)
		s.hashKeys[id] = aws.ToString(sh.HashKeyRange.StartingHashKey)
	}
	slices.Sort(s.parts)
	return s, nil
}

func endpointName(endpoint string) string {
	if endpoint == "" {
		return "AWS"
	}
	return endpoint
}

func (s *kinesisStream) waitActive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, err := s.client.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: Kinesis stream %s not active after 2 minutes (last error: %w)", s.name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *kinesisStream) ids() []string { return s.parts }

func (s *kinesisStream) append(ctx context.Context, ids []string) []string {
	var stored []string
	for len(ids) > 0 {
		n := min(len(ids), 500) // PutRecords takes up to 500 records
		batch := ids[:n]
		ids = ids[n:]
		entries := make([]types.PutRecordsRequestEntry, len(batch))
		for i, id := range batch {
			entries[i] = types.PutRecordsRequestEntry{Data: []byte("event"), PartitionKey: aws.String(id),
				ExplicitHashKey: aws.String(s.hashKeys[id])}
		}
		// Not cancelled with the producer: a batch sent when the demo stops
		// producing must be counted if it landed.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		out, err := s.client.PutRecords(pctx, &awskinesis.PutRecordsInput{StreamName: aws.String(s.name), Records: entries})
		cancel()
		if err != nil {
			continue // the demo's producer drops what the stream refused
		}
		// The ledger counts what landed: a refused record was never
		// produced, and the shard's sequence numbers count only what it holds.
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				stored = append(stored, batch[i])
			}
		}
	}
	return stored
}

func (s *kinesisStream) describe() string {
	return fmt.Sprintf("Kinesis stream %s (%d shards) at %s", s.name, len(s.parts), endpointName(s.endpoint))
}

// close deletes the stream.
func (s *kinesisStream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = s.client.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(s.name)})
}
