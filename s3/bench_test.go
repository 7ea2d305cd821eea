package s3

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// BenchmarkCheckpointPut compares, in one run on each emulator, the driver's
// CAS Put loop with a raw SDK PutObject-with-If-Match loop over the same body
// and the same kind of client. Both count their HTTP requests (req/op).
//
// Every write's bytes differ, as a checkpoint's do (conformance.BenchRecord).
// The raw loop runs first, so connection warm-up never favours it; the Store's
// loop (conformance.Benchmark) runs next.
func BenchmarkCheckpointPut(b *testing.B) {
	for _, n := range emulatorNames {
		if n.name == "localstack" && os.Getenv(n.env+"_ENDPOINT") == "" {
			continue // only under Docker (make test-compose)
		}
		b.Run(n.name, func(b *testing.B) {
			e := lookupEmulator(b, n.name, n.env)
			ctx := testContext(b, 10*time.Minute)
			name := newTestBucket(ctx, b, e)
			runs := 0

			b.Run("raw-sdk", func(b *testing.B) {
				c := newCounter()
				client := e.client(c)
				runs++
				key := fmt.Sprintf("bench/raw-%d.json", runs)
				out, err := client.PutObject(ctx, &awss3.PutObjectInput{
					Bucket:      aws.String(name),
					Key:         aws.String(key),
					Body:        bytes.NewReader(conformance.BenchRecord(0)),
					IfNoneMatch: aws.String("*"),
				})
				if err != nil {
					b.Fatal(err)
				}
				etag := out.ETag
				start := c.n.Load()
				b.ResetTimer()
				for i := 1; b.Loop(); i++ {
					out, err := client.PutObject(ctx, &awss3.PutObjectInput{
						Bucket:  aws.String(name),
						Key:     aws.String(key),
						Body:    bytes.NewReader(conformance.BenchRecord(i)),
						IfMatch: etag,
					})
					if err != nil {
						b.Fatal(err)
					}
					etag = out.ETag
				}
				b.StopTimer()
				b.ReportMetric(float64(c.n.Load()-start)/float64(b.N), "req/op")
			})

			// The Store's UpdateCheckpoint and the driver's CAS loop, as every
			// provider measures them (conformance.Benchmark).
			b.Run("store", func(b *testing.B) { conformance.Benchmark(b, &harness{e: e, name: name}) })

			b.Run("driver", func(b *testing.B) {
				c := newCounter()
				bkt := newBucket(b, e, name, c, nil)
				// The testing package calls this function several times: a
				// new key each time keeps the create-only write valid.
				runs++
				key := fmt.Sprintf("bench/driver-%d.json", runs)
				v, err := bkt.Put(ctx, key, conformance.BenchRecord(0), driver.CreateOnly)
				if err != nil {
					b.Fatal(err)
				}
				start := c.n.Load()
				b.ResetTimer()
				for i := 1; b.Loop(); i++ {
					if v, err = bkt.Put(ctx, key, conformance.BenchRecord(i), v); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(c.n.Load()-start)/float64(b.N), "req/op")
			})
		})
	}
}
