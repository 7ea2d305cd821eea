package azblob

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	azblobsdk "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// checkpointBody is a record-sized (about 300 B) JSON body.
var checkpointBody = fmt.Appendf(nil,
	`{"schema":1,"partition":"7","owner":"host-%s","token":"%s","epoch":12,"counter":345678,`+
		`"offset":"123456789012","sequence":987654321,"metadata":"%s","updated":"2026-01-02T03:04:05.678Z"}`,
	strings.Repeat("a", 36), strings.Repeat("f", 32), strings.Repeat("m", 64))

// BenchmarkCheckpointPut compares, in one run on Azurite, the driver's CAS
// Put loop with a raw SDK Upload-with-If-Match loop over the same body. Both
// report their HTTP requests per operation (req/op).
func BenchmarkCheckpointPut(b *testing.B) {
	ctx := testContext(b, 10*time.Minute)
	cs, c := newContainer(ctx, b)
	name := containerNameOf(c)
	runs := 0
	warmUp(ctx, b, newClient(b, cs, name, nil))

	b.Run("driver", func(b *testing.B) {
		var n counter
		bkt := newBucket(b, newClient(b, cs, name, &n), nil)
		// The testing package calls this function several times: a new key
		// each time keeps the create-only first write valid.
		runs++
		key := fmt.Sprintf("bench/driver-%d.json", runs)
		v, err := bkt.Put(ctx, key, checkpointBody, driver.CreateOnly)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(checkpointBody)))
		start := n.n.Load()
		b.ResetTimer()
		for b.Loop() {
			if v, err = bkt.Put(ctx, key, checkpointBody, v); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(n.n.Load()-start)/float64(b.N), "req/op")
	})

	b.Run("raw-sdk", func(b *testing.B) {
		var n counter
		client := newClient(b, cs, name, &n)
		rawCASLoop(ctx, b, client.NewBlockBlobClient("bench/raw.json"), func(int) []byte { return checkpointBody }, &n)
	})
}

// warmUp makes untimed conditional writes first: Azurite runs on node, and
// without this the first sub-benchmark pays for its JIT warm-up (measured
// here: the first of two identical loops ran 20-40% slower).
func warmUp(ctx context.Context, b *testing.B, c *container.Client) {
	b.Helper()
	bb := c.NewBlockBlobClient(fmt.Sprintf("warm-up-%d.json", time.Now().UnixNano()))
	resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(checkpointBody)), nil)
	if err != nil {
		b.Fatal(err)
	}
	etag := resp.ETag
	for range 500 {
		resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(checkpointBody)), &blockblob.UploadOptions{
			AccessConditions: &azblobsdk.AccessConditions{
				ModifiedAccessConditions: &azblobsdk.ModifiedAccessConditions{IfMatch: etag},
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		etag = resp.ETag
	}
}

// rawCASLoop is the baseline: the SDK's own Upload with If-Match, feeding
// each response's ETag to the next write.
func rawCASLoop(ctx context.Context, b *testing.B, bb *blockblob.Client, body func(i int) []byte, n *counter) {
	b.Helper()
	resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(body(0))), nil)
	if err != nil {
		b.Fatal(err)
	}
	etag := resp.ETag
	b.SetBytes(int64(len(body(0))))
	start := n.n.Load()
	b.ResetTimer()
	for i := 1; b.Loop(); i++ {
		resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(body(i))), &blockblob.UploadOptions{
			AccessConditions: &azblobsdk.AccessConditions{
				ModifiedAccessConditions: &azblobsdk.ModifiedAccessConditions{IfMatch: etag},
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		etag = resp.ETag
	}
	b.StopTimer()
	b.ReportMetric(float64(n.n.Load()-start)/float64(b.N), "req/op")
}

// BenchmarkStore runs the conformance package's Store-versus-driver
// benchmark on Azurite and adds the raw SDK loop over the same records, so
// the Store's checkpoint rate can be compared with the SDK's in one run.
func BenchmarkStore(b *testing.B) {
	ctx := testContext(b, 10*time.Minute)
	cs, c := newContainer(ctx, b)
	warmUp(ctx, b, newClient(b, cs, containerNameOf(c), nil))
	conformance.Benchmark(b, &harness{cs: cs, name: containerNameOf(c)})
	// The Azure SDK's own Event Hubs checkpoint store on the same container:
	// one unconditional SetMetadata per checkpoint (it does not fence a
	// zombie), the bar Tidemark's fenced write must not fall below.
	b.Run("AzureSDKCheckpointStore", func(b *testing.B) {
		store, err := checkpoints.NewBlobStore(newClient(b, cs, containerNameOf(c), nil), nil)
		if err != nil {
			b.Fatal(err)
		}
		cp := azeventhubs.Checkpoint{ConsumerGroup: "$Default", EventHubName: "bench",
			FullyQualifiedNamespace: fmt.Sprintf("ns-%d.servicebus.windows.net", time.Now().UnixNano()), PartitionID: "0"}
		set := func(i int64) error {
			off := strconv.FormatInt(1000000+i, 10)
			cp.Offset, cp.SequenceNumber = &off, &i
			return store.SetCheckpoint(ctx, cp, nil)
		}
		if err := set(0); err != nil { // creates the blob: later ones set its metadata
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := int64(1); b.Loop(); i++ {
			if err := set(i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RawSDK", func(b *testing.B) {
		var n counter
		client := newClient(b, cs, containerNameOf(c), &n)
		rawCASLoop(ctx, b, client.NewBlockBlobClient(fmt.Sprintf("bench-raw-%d/0.json", time.Now().UnixNano())),
			conformance.BenchRecord, &n)
	})
}
