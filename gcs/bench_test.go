package gcs

import (
	"context"
	"strconv"
	"testing"
	"time"

	gcstorage "cloud.google.com/go/storage"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// checkpointBody returns a ~300-byte JSON record whose counter is n, shaped
// like the Store's records, so every write's bytes differ.
func checkpointBody(buf []byte, n int) []byte {
	buf = append(buf[:0], `{"schema":1,"partition":"7","owner":"host-3f9a2c1b-0d4e-4b7a-9c11-5e2f8a6b7c90",`+
		`"lease_token":"b1e0c6f4a8d24f0e9b7c3a5d1e2f4a6b","epoch":12,"counter":`...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, `,"offset":"123456789","sequence_number":987654321,`+
		`"metadata":"consumer=billing;region=eu-west-1","updated":"2026-01-01T00:00:00Z"}`...)
	return buf
}

// BenchmarkCheckpointPut compares, on the same emulator in the same run, the
// driver's compare-and-swap Put with the plainest SDK conditional write loop
// (storage.Writer, ifGenerationMatch, ChunkSize 0) over the same body.
func BenchmarkCheckpointPut(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := emulatorClient(b)
	name := newBucket(ctx, b, c)
	b.Logf("body is %d bytes", len(checkpointBody(nil, 1000000)))
	// A sub-benchmark's function may run more than once; each run starts
	// from a fresh object so its create-only first write succeeds.
	runs := 0
	key := func(kind string) string { runs++; return kind + "-" + strconv.Itoa(runs) + ".json" }

	// The Store's UpdateCheckpoint and the driver's CAS loop, as every
	// provider measures them (conformance.Benchmark).
	b.Run("store", func(b *testing.B) { conformance.Benchmark(b, &harness{client: c, bucket: name}) })

	b.Run("driver", func(b *testing.B) {
		drv, err := OpenBucket(ctx, c, name, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer drv.Close()
		k := key("driver")
		var buf []byte
		v, err := drv.Put(ctx, k, checkpointBody(buf, 0), driver.CreateOnly)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 1; b.Loop(); i++ {
			buf = checkpointBody(buf, i)
			if v, err = drv.Put(ctx, k, buf, v); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("raw-sdk", func(b *testing.B) {
		obj := c.Bucket(name).Object(key("raw"))
		put := func(data []byte, cond gcstorage.Conditions) (int64, error) {
			w := obj.If(cond).NewWriter(ctx)
			w.ChunkSize = 0
			w.ContentType = "application/json"
			if _, err := w.Write(data); err != nil {
				_ = w.Close()
				return 0, err
			}
			if err := w.Close(); err != nil {
				return 0, err
			}
			return w.Attrs().Generation, nil
		}
		var buf []byte
		gen, err := put(checkpointBody(buf, 0), gcstorage.Conditions{DoesNotExist: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 1; b.Loop(); i++ {
			buf = checkpointBody(buf, i)
			if gen, err = put(buf, gcstorage.Conditions{GenerationMatch: gen}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
