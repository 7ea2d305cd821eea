package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// A short demo on the default file store: every invariant holds, and the
// measured failover and handoff stay within their bounds.
func TestShortDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := Run(ctx, Config{Hosts: 3, Partitions: 12, Duration: 10 * time.Second, EventsPerSec: 300,
		LeaseDuration: time.Second, RenewInterval: 250 * time.Millisecond, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	Print(&out, sum)
	t.Log("\n" + out.String())
	if !sum.OK() {
		t.Fatalf("invariants failed: %v", sum.Violations)
	}
	if sum.Failover > sum.FailoverBound+200*time.Millisecond { // + the observer's polling period and listing
		t.Errorf("failover %v over its bound %v", sum.Failover, sum.FailoverBound)
	}
	if sum.Handoff > sum.HandoffBound+200*time.Millisecond {
		t.Errorf("handoff %v over its bound %v", sum.Handoff, sum.HandoffBound)
	}
	if sum.Produced == 0 || sum.Processed < sum.Produced {
		t.Errorf("produced %d, processed %d", sum.Produced, sum.Processed)
	}
	lo, hi := 1<<30, -1
	for _, n := range sum.Balance {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		t.Errorf("unbalanced at the end: %v", sum.Balance)
	}
	if !strings.Contains(out.String(), "ownership") {
		t.Error("no ownership view drawn")
	}
}

func TestDemoRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{Hosts: 2}, {Partitions: -1}, {Duration: time.Second}, {Hosts: 26}} {
		if _, err := Run(context.Background(), c); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("Run(%+v) = %v, want ErrInvalidArgument", c, err)
		}
	}
}

func TestRedact(t *testing.T) {
	got := redact("s3://AKIA:secret@bucket?endpoint=http://x&secret_access_key=y")
	if strings.Contains(got, "secret") || strings.Contains(got, "AKIA") {
		t.Fatalf("redact leaked: %s", got)
	}
}
