package demo

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// A host to be killed that owns nothing (fewer partitions than hosts) must not
// hang the demo.
func TestDemoKilledHostOwnsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Config{Hosts: 5, Partitions: 1, Duration: 4 * time.Second, EventsPerSec: 50,
			LeaseDuration: 500 * time.Millisecond, RenewInterval: 100 * time.Millisecond, Out: io.Discard})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a 4s demo still running after 30s")
	}
}

// Missing a failover or handoff bound fails the run.
func TestSummaryOKChecksTheBounds(t *testing.T) {
	ok := Summary{Failover: time.Second, FailoverBound: 5 * time.Second, Handoff: time.Second, HandoffBound: 2 * time.Second}
	if !ok.OK() {
		t.Fatal("a summary within its bounds is not OK")
	}
	for _, s := range []Summary{
		{Failover: time.Minute, FailoverBound: 5 * time.Second, Handoff: time.Second, HandoffBound: 2 * time.Second},
		{Failover: time.Second, FailoverBound: 5 * time.Second, Handoff: time.Minute, HandoffBound: 2 * time.Second},
		{FailoverMissing: true, FailoverBound: 5 * time.Second, HandoffBound: 2 * time.Second},
	} {
		if s.OK() {
			t.Errorf("%+v reports OK", s)
		}
	}
}
