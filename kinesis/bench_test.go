package kinesis_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/kinesis"
	"github.com/tidemark/tidemark/processor"
	"github.com/tidemark/tidemark/s3"
)

// counted counts a store's storage requests, as S3 bills them (a listing
// page is one request).
type counted struct {
	driver.Bucket
	n *atomic.Int64
}

func (b counted) Get(ctx context.Context, key string) (driver.Object, error) {
	b.n.Add(1)
	return b.Bucket.Get(ctx, key)
}

func (b counted) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	b.n.Add(1)
	return b.Bucket.Put(ctx, key, data, v)
}

func (b counted) Delete(ctx context.Context, key string) error {
	b.n.Add(1)
	return b.Bucket.Delete(ctx, key)
}

func (b counted) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	b.n.Add(1)
	return b.Bucket.List(ctx, prefix, token)
}

// counter counts the records processed.
type counter struct{ n *atomic.Int64 }

func (counter) Open(context.Context, *processor.Partition) error { return nil }
func (c counter) Process(ctx context.Context, p *processor.Partition, evs []processor.Event) error {
	c.n.Add(int64(len(evs)))
	return p.Checkpoint(ctx, evs[len(evs)-1])
}
func (counter) Close(context.Context, *processor.Partition, processor.CloseReason) error { return nil }

// benchGroup runs hosts hosts over stream until stop, counting storage
// requests in reqs and records in recs.
func benchGroup(ctx context.Context, b *testing.B, e env, stream, bucket, prefix string, hosts int,
	renew time.Duration, policy processor.CheckpointPolicy, reqs, recs *atomic.Int64) (stop func(), owned func() int) {
	b.Helper()
	var (
		wg      sync.WaitGroup
		cancels []context.CancelFunc
		hs      []*processor.Host
	)
	for i := range hosts {
		bkt, err := s3.OpenBucket(ctx, e.s3(), bucket, nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := blobstore.New(counted{Bucket: bkt, n: reqs}, &blobstore.Options{Prefix: prefix, Owner: fmt.Sprintf("host-%d", i),
			LeaseDuration: 3 * renew, RenewInterval: renew})
		if err != nil {
			b.Fatal(err)
		}
		src, err := kinesis.NewSource(e.client(nil), stream, &kinesis.Options{IdleInterval: 200 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		h, err := processor.New(s, src, func(string) processor.Processor { return counter{recs} },
			&processor.Options{MaxBatch: 10000, Checkpoint: policy})
		if err != nil {
			b.Fatal(err)
		}
		hctx, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		hs = append(hs, h)
		wg.Go(func() {
			defer s.Close()
			if err := h.Run(hctx); err != nil {
				b.Error(err)
			}
		})
	}
	return func() {
			for _, c := range cancels {
				c()
			}
			wg.Wait()
		}, func() int {
			n := 0
			for _, h := range hs {
				n += len(h.Owned())
			}
			return n
		}
}

// fill puts n records spread over the stream's shards.
func fill(ctx context.Context, b *testing.B, e env, stream string, n int) {
	b.Helper()
	c := e.client(nil)
	for sent := 0; sent < n; {
		batch := make([]types.PutRecordsRequestEntry, min(500, n-sent))
		for i := range batch {
			batch[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(sent + i)), Data: make([]byte, 100)}
		}
		out, err := c.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(stream), Records: batch})
		if err != nil {
			b.Fatal(err)
		}
		sent += len(batch) - int(aws.ToInt32(out.FailedRecordCount))
	}
}

// BenchmarkKinesisGroup measures, on kinesalite with checkpoints on MinIO, a
// group of 1 and of 3 hosts over a stream of 8 shards:
//
//   - records/s: draining a backlog of 48,000 records (100 bytes each) put
//     beforehand, timed from the hosts' start (their claims included) to
//     the last record processed;
//   - storage-req/shard-hour: the storage requests of a steady group with a
//     producer, checkpointing every renew interval, scaled to Tidemark's
//     default 10 s interval (every request of the group is per interval:
//     checkpoints, listings, heartbeats);
//   - kcl-req/shard-hour: the same figure computed for the Kinesis Client
//     Library's DynamoDB lease table at its defaults (failover time 10 s:
//     one conditional UpdateItem per lease every 10 s / 3 - 25 ms, one per
//     checkpoint, one Scan per worker every (10 s + 25 ms) x 2).
func BenchmarkKinesisGroup(b *testing.B) {
	e := lookupEnv(b)
	const shards = 8
	for _, hosts := range []int{1, 3} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			ctx := testContext(b, 10*time.Minute)
			var drained time.Duration
			var total int64
			for range b.N {
				stream := e.createStream(ctx, b, shards)
				bucket := e.newBucket(ctx, b)
				const n = 48000
				fill(ctx, b, e, stream, n)
				var reqs, recs atomic.Int64
				start := time.Now()
				stop, _ := benchGroup(ctx, b, e, stream, bucket, "", hosts, time.Second,
					processor.CheckpointPolicy{EveryInterval: time.Second}, &reqs, &recs)
				for recs.Load() < n && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				drained += time.Since(start)
				total += recs.Load()
				stop()
			}
			b.ReportMetric(float64(total)/drained.Seconds(), "records/s")

			// Storage requests of a steady group under load.
			stream := e.createStream(ctx, b, shards)
			bucket := e.newBucket(ctx, b)
			var reqs, recs atomic.Int64
			const renew = time.Second
			stop, owned := benchGroup(ctx, b, e, stream, bucket, "", hosts, renew,
				processor.CheckpointPolicy{EveryInterval: renew}, &reqs, &recs)
			pctx, stopProducing := context.WithCancel(ctx)
			p := e.produce(pctx, stream, 32, 50*time.Millisecond)
			deadline := time.Now().Add(30 * time.Second)
			for owned() < shards && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(3 * renew) // past the first claims
			before, t0 := reqs.Load(), time.Now()
			time.Sleep(30 * renew)
			used, elapsed := reqs.Load()-before, time.Since(t0)
			p.halt(b)
			stopProducing()
			stop()
			intervals := elapsed.Seconds() / renew.Seconds()
			perShardHour := float64(used) / shards / intervals * 360 // 360 intervals of 10 s an hour
			renewals := 3600 / (10.0/3 - 0.025)
			scans := 3600 / ((10 + 0.025) * 2) * float64(hosts) / shards
			kcl := renewals + 360 + scans
			b.ReportMetric(perShardHour, "storage-req/shard-hour")
			b.ReportMetric(kcl, "kcl-req/shard-hour")
			b.ReportMetric(perShardHour/kcl, "ratio")
		})
	}
}
