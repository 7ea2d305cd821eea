package s3

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// checkpointBody is a record-sized (~300 B) JSON body.
var checkpointBody = func() []byte {
	s := fmt.Sprintf(`{"schema":1,"partition":"7","owner":"host-%s","token":"%s","epoch":12,"counter":345678,`+
		`"offset":"123456789012","sequence":987654321,"metadata":"%s","updated":"2026-01-02T03:04:05.678Z"}`,
		strings.Repeat("a", 36), strings.Repeat("f", 32), strings.Repeat("m", 64))
	return []byte(s)
}()

// BenchmarkCheckpointPut compares, in one run on each emulator, the driver's
// CAS Put loop with a raw SDK PutObject-with-If-Match loop over the same body
// and the same kind of client. Both count their HTTP requests (req/op).
//
// S3 ETags are content hashes, so rewriting the same bytes keeps the same
// ETag and each CAS still matches: both loops write identical bytes.
func BenchmarkCheckpointPut(b *testing.B) {
	for _, n := range emulatorNames {
		b.Run(n.name, func(b *testing.B) {
			e := lookupEmulator(b, n.name, n.env)
			ctx := testContext(b, 10*time.Minute)
			name := newTestBucket(ctx, b, e)
			runs := 0

			b.Run("driver", func(b *testing.B) {
				c := newCounter()
				bkt := newBucket(b, e, name, c, nil)
				// The testing package calls this function several times: a
				// new key each time keeps the create-only write valid.
				runs++
				key := fmt.Sprintf("bench/driver-%d.json", runs)
				v, err := bkt.Put(ctx, key, checkpointBody, driver.CreateOnly)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(checkpointBody)))
				start := c.n.Load()
				b.ResetTimer()
				for b.Loop() {
					if v, err = bkt.Put(ctx, key, checkpointBody, v); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(c.n.Load()-start)/float64(b.N), "req/op")
			})

			b.Run("raw-sdk", func(b *testing.B) {
				c := newCounter()
				client := e.client(c)
				runs++
				key := fmt.Sprintf("bench/raw-%d.json", runs)
				out, err := client.PutObject(ctx, &awss3.PutObjectInput{
					Bucket:      aws.String(name),
					Key:         aws.String(key),
					Body:        bytes.NewReader(checkpointBody),
					IfNoneMatch: aws.String("*"),
				})
				if err != nil {
					b.Fatal(err)
				}
				etag := out.ETag
				b.SetBytes(int64(len(checkpointBody)))
				start := c.n.Load()
				b.ResetTimer()
				for b.Loop() {
					out, err := client.PutObject(ctx, &awss3.PutObjectInput{
						Bucket:  aws.String(name),
						Key:     aws.String(key),
						Body:    bytes.NewReader(checkpointBody),
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
		})
	}
}
