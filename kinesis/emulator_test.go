package kinesis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/processor"
	"github.com/tidemark/tidemark/s3"
)

// The tests run on kinesalite, with checkpoints on MinIO
// (scripts/emulators.sh start kinesalite minio, then eval
// "$(scripts/emulators.sh env)"). Without them they skip, unless
// TIDEMARK_REQUIRE_EMULATORS=1 asks for a failure instead.

type env struct {
	kinesis     string // kinesalite endpoint
	minio       string
	minioKey    string
	minioSecret string
}

func lookupEnv(tb testing.TB) env {
	tb.Helper()
	e := env{
		kinesis:     os.Getenv("TIDEMARK_KINESIS_ENDPOINT"),
		minio:       os.Getenv("TIDEMARK_MINIO_ENDPOINT"),
		minioKey:    os.Getenv("TIDEMARK_MINIO_ACCESS_KEY"),
		minioSecret: os.Getenv("TIDEMARK_MINIO_SECRET_KEY"),
	}
	if e.kinesis == "" || e.minio == "" {
		msg := "TIDEMARK_KINESIS_ENDPOINT and TIDEMARK_MINIO_ENDPOINT are needed: scripts/emulators.sh start kinesalite minio, then eval \"$(scripts/emulators.sh env)\""
		if os.Getenv("TIDEMARK_REQUIRE_EMULATORS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return e
}

func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// client returns a Kinesis client for kinesalite: an endpoint override and
// static credentials (kinesalite checks that requests are signed, not by
// whom).
func (e env) client(creds aws.CredentialsProvider) *awskinesis.Client {
	if creds == nil {
		creds = credentials.NewStaticCredentialsProvider("tidemark", "tidemark", "")
	}
	return awskinesis.New(awskinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.kinesis), Credentials: creds})
}

func uniqueName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// createStream creates a stream of n shards and waits until it is active.
func (e env) createStream(ctx context.Context, tb testing.TB, n int32) string {
	tb.Helper()
	c := e.client(nil)
	name := uniqueName("tm")
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
		tb.Fatalf("create stream: %v", err)
	}
	e.waitActive(ctx, tb, name)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	return name
}

func (e env) waitActive(ctx context.Context, tb testing.TB, name string) {
	tb.Helper()
	c := e.client(nil)
	for {
		out, err := c.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("stream %s not active: %v", name, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// openShards returns the stream's open shards with their hash key ranges.
func (e env) openShards(ctx context.Context, tb testing.TB, name string) []types.Shard {
	tb.Helper()
	out, err := e.client(nil).ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		tb.Fatal(err)
	}
	var open []types.Shard
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	return open
}

// split splits shard in the middle of its hash key range.
func (e env) split(ctx context.Context, tb testing.TB, name string, shard types.Shard) {
	tb.Helper()
	lo, _ := new(big.Int).SetString(aws.ToString(shard.HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(shard.HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	if _, err := e.client(nil).SplitShard(ctx, &awskinesis.SplitShardInput{StreamName: aws.String(name),
		ShardToSplit: shard.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
		tb.Fatalf("split %s: %v", aws.ToString(shard.ShardId), err)
	}
	e.waitActive(ctx, tb, name)
}

func (e env) merge(ctx context.Context, tb testing.TB, name, a, b string) {
	tb.Helper()
	if _, err := e.client(nil).MergeShards(ctx, &awskinesis.MergeShardsInput{StreamName: aws.String(name),
		ShardToMerge: aws.String(a), AdjacentShardToMerge: aws.String(b)}); err != nil {
		tb.Fatalf("merge %s and %s: %v", a, b, err)
	}
	e.waitActive(ctx, tb, name)
}

// newBucket creates a MinIO bucket for the test's checkpoints.
func (e env) newBucket(ctx context.Context, tb testing.TB) string {
	tb.Helper()
	name := uniqueName("tm-kinesis")
	if _, err := e.s3().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	return name
}

func (e env) s3() *awss3.Client {
	return awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.minio), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(e.minioKey, e.minioSecret, "")})
}

// store opens a host's store on the bucket.
func (e env) store(ctx context.Context, tb testing.TB, bucket, prefix, owner string, lease, renew time.Duration) *blobstore.Store {
	tb.Helper()
	b, err := s3.OpenBucket(ctx, e.s3(), bucket, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := blobstore.New(b, &blobstore.Options{Prefix: prefix, Owner: owner, LeaseDuration: lease, RenewInterval: renew})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// producer puts records to the stream, each key's records numbered in
// order ("key/n"), until stopped.
type producer struct {
	e      env
	stream string
	keys   int

	mu   sync.Mutex
	sent map[string]int // key -> records sent
	err  error
	stop chan struct{}
	done chan struct{}
}

func (e env) produce(ctx context.Context, stream string, keys int, every time.Duration) *producer {
	p := &producer{e: e, stream: stream, keys: keys, sent: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		c := e.client(nil)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := p.putRound(ctx, c); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return
			}
			select {
			case <-p.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// putRound sends one record for each key, in one PutRecords call, retrying
// the records the service failed.
func (p *producer) putRound(ctx context.Context, c *awskinesis.Client) error {
	p.mu.Lock()
	var entries []types.PutRecordsRequestEntry
	for k := range p.keys {
		key := fmt.Sprintf("k%02d", k)
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key),
			Data: fmt.Appendf(nil, "%s/%d", key, p.sent[key]+1)})
	}
	p.mu.Unlock()
	for len(entries) > 0 {
		out, err := c.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		if err != nil {
			return err
		}
		var retry []types.PutRecordsRequestEntry
		p.mu.Lock()
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, entries[i])
				continue
			}
			p.sent[aws.ToString(entries[i].PartitionKey)]++
		}
		p.mu.Unlock()
		entries = retry
	}
	return nil
}

// halt stops the producer and returns what it sent.
func (p *producer) halt(tb testing.TB) map[string]int {
	tb.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		tb.Fatalf("producer: %v", p.err)
	}
	out := map[string]int{}
	for k, v := range p.sent {
		out[k] = v
	}
	return out
}

// ledger records what the processors of a group did: every record
// processed, per key in order, and which host opened which shard when.
type ledger struct {
	mu      sync.Mutex
	perKey  map[string][]int // key -> record numbers, in processing order
	seen    map[string]int   // "key/n" -> times processed
	opens   []open
	closes  map[processor.CloseReason]int
	problem []string
	// check, if set, runs in Open (under no lock).
	check func(ctx context.Context, p *processor.Partition) error
	// slow holds shards whose every batch takes this long to process.
	slow map[string]time.Duration
}

type open struct {
	host, shard string
	start       blobstore.Checkpoint
	at          time.Time
}

func newLedger() *ledger {
	return &ledger{perKey: map[string][]int{}, seen: map[string]int{}, closes: map[processor.CloseReason]int{}}
}

func (l *ledger) factory(host string) func(string) processor.Processor {
	return func(string) processor.Processor { return &ledgerProc{l: l, host: host} }
}

type ledgerProc struct {
	l    *ledger
	host string
	last *big.Int // Kinesis sequence number of the last record, to check order
}

func (p *ledgerProc) Open(ctx context.Context, pt *processor.Partition) error {
	if p.l.check != nil {
		if err := p.l.check(ctx, pt); err != nil {
			p.l.mu.Lock()
			p.l.problem = append(p.l.problem, err.Error())
			p.l.mu.Unlock()
		}
	}
	p.l.mu.Lock()
	p.l.opens = append(p.l.opens, open{host: p.host, shard: pt.ID, start: pt.Start, at: time.Now()})
	p.l.mu.Unlock()
	return nil
}

func (p *ledgerProc) Process(ctx context.Context, pt *processor.Partition, evs []processor.Event) error {
	p.l.mu.Lock()
	d := p.l.slow[pt.ID]
	p.l.mu.Unlock()
	if d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	p.l.mu.Lock()
	for _, ev := range evs {
		seq, ok := new(big.Int).SetString(ev.Offset, 10)
		if !ok || (p.last != nil && seq.Cmp(p.last) <= 0) {
			p.l.problem = append(p.l.problem, fmt.Sprintf("shard %s: sequence number %s after %v", pt.ID, ev.Offset, p.last))
		}
		p.last = seq
		key, n, ok := strings.Cut(string(ev.Body), "/")
		if !ok || key != ev.Key {
			p.l.problem = append(p.l.problem, fmt.Sprintf("shard %s: record %q with key %q", pt.ID, ev.Body, ev.Key))
			continue
		}
		var num int
		_, _ = fmt.Sscan(n, &num)
		p.l.perKey[key] = append(p.l.perKey[key], num)
		p.l.seen[string(ev.Body)]++
	}
	p.l.mu.Unlock()
	return pt.Checkpoint(ctx, evs[len(evs)-1])
}

func (p *ledgerProc) Close(_ context.Context, _ *processor.Partition, reason processor.CloseReason) error {
	p.l.mu.Lock()
	p.l.closes[reason]++
	p.l.mu.Unlock()
	return nil
}

// complete reports whether every record sent was processed.
func (l *ledger) complete(sent map[string]int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, n := range sent {
		for i := 1; i <= n; i++ {
			if l.seen[fmt.Sprintf("%s/%d", key, i)] == 0 {
				return false
			}
		}
	}
	return true
}

// verify checks that every record sent was processed, and that each key's
// records were first processed in the order they were sent: a record seen
// again (at least once delivery after a failover) may repeat earlier ones,
// never skip ahead.
func (l *ledger) verify(tb testing.TB, sent map[string]int) {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.problem {
		tb.Error(p)
	}
	for key, n := range sent {
		high := 0
		for _, num := range l.perKey[key] {
			if num > high+1 {
				tb.Errorf("key %s: record %d processed before %d", key, num, high+1)
			}
			high = max(high, num)
		}
		if high != n {
			tb.Errorf("key %s: %d records sent, processed up to %d", key, n, high)
		}
	}
}

// duplicates counts records processed more than once.
func (l *ledger) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.seen {
		n += c - 1
	}
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
