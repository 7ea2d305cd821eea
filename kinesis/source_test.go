package kinesis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/kinesis"
	"github.com/tidemark/tidemark/processor"
)

// put writes n records "<tag>/1".."<tag>/n" to the stream (one shard's
// worth: one partition key) and returns their sequence numbers.
func (e env) put(ctx context.Context, tb testing.TB, stream, tag string, n int) []string {
	tb.Helper()
	c := e.client(nil)
	var seqs []string
	for i := 1; i <= n; i++ {
		out, err := c.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"),
			Data: fmt.Appendf(nil, "%s/%d", tag, i)})
		if err != nil {
			tb.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// readAll receives from r until want events came, or fails after 10 s.
func readAll(ctx context.Context, tb testing.TB, r processor.Receiver, want int) []processor.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []processor.Event
	for len(out) < want {
		evs, err := r.Receive(ctx, 100)
		if err != nil {
			tb.Fatalf("after %d of %d events: %v", len(out), want, err)
		}
		out = append(out, evs...)
	}
	return out
}

func bodies(evs []processor.Event) string {
	var b []string
	for _, ev := range evs {
		b = append(b, string(ev.Body))
	}
	return strings.Join(b, " ")
}

// openFresh opens shard as a partition without a checkpoint.
func openFresh(ctx context.Context, tb testing.TB, src *kinesis.Source, shard string) processor.Receiver {
	tb.Helper()
	r, err := src.Open(ctx, shard, blobstore.Checkpoint{Offset: blobstore.StartOfStream})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func firstShard(ctx context.Context, tb testing.TB, src *kinesis.Source) string {
	tb.Helper()
	ids, err := src.Partitions(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return ids[0]
}

func TestReadsFromCheckpointAndStartPositions(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	stream := e.createStream(ctx, t, 1)
	seqs := e.put(ctx, t, stream, "a", 3)
	src, err := kinesis.NewSource(e.client(nil), stream, &kinesis.Options{IdleInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	shard := firstShard(ctx, t, src)

	// A fresh shard starts at the trim horizon; sequence numbers count up
	// from 1 and the offset is the service's sequence number, exactly.
	r := openFresh(ctx, t, src, shard)
	evs := readAll(ctx, t, r, 3)
	if got := bodies(evs); got != "a/1 a/2 a/3" {
		t.Fatalf("from the start: %s", got)
	}
	for i, ev := range evs {
		if ev.Offset != seqs[i] || ev.SequenceNumber != int64(i+1) || ev.Key != "k" || ev.Time.IsZero() || ev.PartitionID != shard {
			t.Errorf("event %d: %+v (sequence number %s)", i, ev, seqs[i])
		}
	}
	if lag, ok := r.(processor.LagReporter).Lag(); !ok || lag < 0 {
		t.Errorf("lag after a read: %v, %v", lag, ok)
	}

	// After a checkpoint: the next record, counting on from its number.
	r, err = src.Open(ctx, shard, blobstore.Checkpoint{Offset: seqs[1], SequenceNumber: 2})
	if err != nil {
		t.Fatal(err)
	}
	if evs := readAll(ctx, t, r, 1); bodies(evs) != "a/3" || evs[0].SequenceNumber != 3 {
		t.Fatalf("after a/2: %+v", evs)
	}

	// Latest: only what is put after the shard was opened.
	latest, err := kinesis.NewSource(e.client(nil), stream, &kinesis.Options{Start: kinesis.Latest, IdleInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r = openFresh(ctx, t, latest, shard)
	e.put(ctx, t, stream, "b", 2)
	if got := bodies(readAll(ctx, t, r, 2)); got != "b/1 b/2" {
		t.Fatalf("latest: %s", got)
	}

	// At a timestamp: from the first record that arrived then or later.
	time.Sleep(1100 * time.Millisecond) // kinesalite's timestamps are in seconds
	mark := time.Now()
	time.Sleep(1100 * time.Millisecond)
	e.put(ctx, t, stream, "c", 1)
	at, err := kinesis.NewSource(e.client(nil), stream, &kinesis.Options{Start: kinesis.AtTimestamp(mark), IdleInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r = openFresh(ctx, t, at, shard)
	if got := bodies(readAll(ctx, t, r, 1)); got != "c/1" {
		t.Fatalf("at %v: %s", mark, got)
	}
}

func TestMissingStream(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	src, err := kinesis.NewSource(e.client(nil), "no-such-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Partitions(ctx)
	if !errors.Is(err, kinesis.ErrStreamNotFound) || !strings.Contains(err.Error(), "no-such-stream") {
		t.Fatalf("listing a missing stream: %v, want ErrStreamNotFound naming it", err)
	}
	// A host on it does not start.
	bucket := e.newBucket(ctx, t)
	s := e.store(ctx, t, bucket, "", "host", groupLease, groupRenew)
	h, err := processor.New(s, src, newLedger().factory("host"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); !errors.Is(err, kinesis.ErrStreamNotFound) {
		t.Fatalf("Run on a missing stream: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	stream := e.createStream(ctx, t, 1)
	// kinesalite checks that a request is signed, not by whom: unsigned
	// requests are what it refuses, with the service's code for missing
	// credentials (real Kinesis also refuses unknown keys, with
	// UnrecognizedClientException, mapped the same way).
	src, err := kinesis.NewSource(e.client(aws.AnonymousCredentials{}), stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Partitions(ctx)
	if !errors.Is(err, kinesis.ErrPermission) {
		t.Fatalf("unsigned listing: %v, want ErrPermission", err)
	}
	if _, err := src.Open(ctx, "shardId-000000000000", blobstore.Checkpoint{Offset: "49590338271490256608559692538361571095921575989136588898"}); !errors.Is(err, kinesis.ErrPermission) {
		t.Fatalf("unsigned open: %v, want ErrPermission", err)
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	for _, name := range []string{"", "has space", strings.Repeat("x", 129), "a/b"} {
		if _, err := kinesis.NewSource(e.client(nil), name, nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("stream name %q: %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := kinesis.NewSource(nil, "s", nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Errorf("nil client: %v", err)
	}
	stream := e.createStream(ctx, t, 1)
	src, err := kinesis.NewSource(e.client(nil), stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	shard := firstShard(ctx, t, src)
	for _, off := range []string{"12abc", "-5", "0012", strings.Repeat("9", 130)} {
		_, err := src.Open(ctx, shard, blobstore.Checkpoint{Offset: off, SequenceNumber: 3})
		if !errors.Is(err, kinesis.ErrInvalidCheckpoint) || !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("checkpoint offset %q: %v, want ErrInvalidCheckpoint", off, err)
		}
	}
	if _, err := src.Open(ctx, "shardId-000000000099", blobstore.Checkpoint{Offset: blobstore.StartOfStream}); !errors.Is(err, kinesis.ErrStreamNotFound) {
		t.Errorf("a shard the stream lacks: %v, want ErrStreamNotFound", err)
	}
}

// A checkpoint whose sequence number the stream no longer has (here: from a
// deleted stream of the same name) is read from the trim horizon, with a
// warning; a strict Source refuses it.
func TestCheckpointNotInStream(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	c := e.client(nil)
	stream := e.createStream(ctx, t, 1)
	old := e.put(ctx, t, stream, "old", 2)
	if _, err := c.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond) // kinesalite keeps a shard's creation time in seconds
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	e.waitActive(ctx, t, stream)
	e.put(ctx, t, stream, "new", 2)
	cp := blobstore.Checkpoint{Offset: old[1], SequenceNumber: 2}

	var logs bytes.Buffer
	var mu sync.Mutex
	src, err := kinesis.NewSource(c, stream, &kinesis.Options{IdleInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	shard := firstShard(ctx, t, src)
	r, err := src.Open(ctx, shard, cp)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(readAll(ctx, t, r, 2)); got != "new/1 new/2" {
		t.Fatalf("fallback read %s", got)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "TRIM_HORIZON") || !strings.Contains(logs.String(), old[1]) {
		t.Errorf("no warning naming the checkpoint and the fallback: %q", logs.String())
	}
	mu.Unlock()

	strict, err := kinesis.NewSource(c, stream, &kinesis.Options{StrictCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Open(ctx, shard, cp); !errors.Is(err, kinesis.ErrCheckpointNotInStream) {
		t.Fatalf("strict: %v, want ErrCheckpointNotInStream", err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// faulty injects the service's throttling and iterator expiry into a real
// client's GetRecords calls.
type faulty struct {
	kinesis.API
	calls  atomic.Int64
	faults atomic.Int64
	expire int64 // the call that fails with an expired iterator
}

func (f *faulty) GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	n := f.calls.Add(1)
	switch {
	case n == f.expire:
		f.faults.Add(1)
		return nil, &smithy.GenericAPIError{Code: "ExpiredIteratorException", Message: "Iterator expired."}
	case n%2 == 0:
		f.faults.Add(1)
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded for shard")}
	}
	return f.API.GetRecords(ctx, in, opts...)
}

func TestThrottlingAndExpiredIterators(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	stream := e.createStream(ctx, t, 1)
	e.put(ctx, t, stream, "a", 12)
	f := &faulty{API: e.client(nil), expire: 5}
	src, err := kinesis.NewSource(f, stream, &kinesis.Options{MaxRecords: 4, IdleInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	shard := firstShard(ctx, t, src)
	r := openFresh(ctx, t, src, shard)
	evs := readAll(ctx, t, r, 12)
	var want []string
	for i := 1; i <= 12; i++ {
		want = append(want, fmt.Sprintf("a/%d", i))
	}
	if got := bodies(evs); got != strings.Join(want, " ") {
		t.Fatalf("read through faults: %s", got)
	}
	if f.faults.Load() < 3 {
		t.Fatalf("only %d faults injected", f.faults.Load())
	}
	t.Logf("%d GetRecords calls, %d of them refused", f.calls.Load(), f.faults.Load())
}

// reads counts a real client's GetRecords calls.
type reads struct {
	kinesis.API
	n atomic.Int64
}

func (r *reads) GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	r.n.Add(1)
	return r.API.GetRecords(ctx, in, opts...)
}

// A host's small batches do not make small reads: a shard takes 1,000
// records a second and may be read five times a second, so one read serves
// many batches.
func TestSmallBatchesShareOneRead(t *testing.T) {
	t.Parallel()
	e := lookupEnv(t)
	ctx := testContext(t, time.Minute)
	stream := e.createStream(ctx, t, 1)
	e.put(ctx, t, stream, "a", 30)
	api := &reads{API: e.client(nil)}
	src, err := kinesis.NewSource(api, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := openFresh(ctx, t, src, firstShard(ctx, t, src))
	var got []processor.Event
	for len(got) < 30 {
		evs, err := r.Receive(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 4 {
			t.Fatalf("a batch of %d, asked for at most 4", len(evs))
		}
		got = append(got, evs...)
	}
	if got[29].SequenceNumber != 30 || string(got[29].Body) != "a/30" {
		t.Fatalf("last event %+v", got[29])
	}
	if n := api.n.Load(); n != 1 {
		t.Errorf("%d GetRecords calls for 30 records read in batches of 4, want 1", n)
	}
}
