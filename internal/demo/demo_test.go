package demo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
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
	// Safety holds exactly, however busy the machine.
	if len(sum.Violations) > 0 || sum.Missed > 0 || sum.FailoverMissing {
		t.Fatalf("invariants failed: %v; missed %d; failover seen: %v", sum.Violations, sum.Missed, !sum.FailoverMissing)
	}
	// The bounds are real time here: a machine busy enough to delay the
	// hosts' goroutines by a second (make stress runs a CPU burner beside
	// the race detector) stretches them. The exact bounds are proved on a
	// manual clock (processor's Failover and handoff tests), and the demo
	// itself exits 1 when a bound is missed.
	const slack = time.Second
	if sum.Failover > sum.FailoverBound+slack {
		t.Errorf("failover %v over its bound %v (+%v for a busy machine)", sum.Failover, sum.FailoverBound, slack)
	}
	if sum.Handoff > sum.HandoffBound+slack {
		t.Errorf("handoff %v over its bound %v (+%v for a busy machine)", sum.Handoff, sum.HandoffBound, slack)
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

// The demo shows its store URL through blobstore.RedactURL: no password,
// wherever it is in the URL, and no secret-looking parameter's value.
func TestRedact(t *testing.T) {
	for _, raw := range []string{
		"s3://AKIA:pw-url-0451@bucket?endpoint=http://x&secret_access_key=key-0451",
		"s3://bucket?endpoint=http://user:pw-url-0451@host:9000&pw=key-0451&region=x",
	} {
		got := redact(raw)
		if strings.Contains(got, "pw-url-0451") || strings.Contains(got, "key-0451") {
			t.Errorf("redact(%q) leaked: %s", raw, got)
		}
		if got != blobstore.RedactURL(raw) {
			t.Errorf("redact(%q) = %q, not blobstore.RedactURL's %q", raw, got, blobstore.RedactURL(raw))
		}
	}
}

// A bad configuration is refused by Validate, before anything runs.
func TestValidate(t *testing.T) {
	for _, c := range []Config{{Hosts: 2}, {Partitions: -1}, {Duration: time.Second}, {Hosts: 26},
		{LeaseDuration: -time.Second}, {LeaseDuration: time.Second, RenewInterval: time.Second}} {
		if err := c.Validate(); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidArgument", c, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
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

// The demo on kinesalite (a stream of shards the demo creates), with the
// default file store: the same invariants hold.
func TestShortDemoOnKinesis(t *testing.T) {
	endpoint := os.Getenv("TIDEMARK_KINESIS_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("TIDEMARK_REQUIRE_EMULATORS") == "1" {
			t.Fatal("TIDEMARK_KINESIS_ENDPOINT is not set: scripts/emulators.sh start kinesalite, then eval \"$(scripts/emulators.sh env)\"")
		}
		t.Skip("TIDEMARK_KINESIS_ENDPOINT is not set: start kinesalite with scripts/emulators.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := Run(ctx, Config{Hosts: 3, Partitions: 6, Duration: 12 * time.Second, EventsPerSec: 200,
		LeaseDuration: 1500 * time.Millisecond, RenewInterval: 500 * time.Millisecond, Out: &out,
		Source: "kinesis", KinesisEndpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	Print(&out, sum)
	t.Log("\n" + out.String())
	if len(sum.Violations) > 0 || sum.Missed > 0 || sum.FailoverMissing || sum.HandoffMissing {
		t.Fatalf("invariants failed: %v; missed %d", sum.Violations, sum.Missed)
	}
	if sum.Produced < 1000 || !strings.Contains(out.String(), "Kinesis stream tidemark-demo-") {
		t.Errorf("produced %d events; header: %q", sum.Produced, strings.SplitN(out.String(), "\n", 2)[0])
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ownedSum scrapes url and sums tidemark_host_partitions_owned over the
// hosts, reporting how many hosts it saw.
func ownedSum(t *testing.T, url string) (sum float64, hosts int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tidemark_host_partitions_owned{") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Errorf("metrics line %q: %v", line, err)
		}
		sum += v
		hosts++
	}
	return sum, hosts
}

// The demo serves its group's metrics in the Prometheus text format: scraped
// over loopback, the hosts' owned partitions sum to the partition count.
func TestDemoServesMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := &syncBuffer{}
	const partitions = 12
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Config{Hosts: 3, Partitions: partitions, Duration: 8 * time.Second, EventsPerSec: 100,
			LeaseDuration: time.Second, RenewInterval: 250 * time.Millisecond, Out: out, MetricsAddr: "127.0.0.1:0"})
		done <- err
	}()
	var url string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "metrics: "); ok {
				url = strings.Fields(rest)[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("no metrics address in the demo's output:\n%s", out.String())
	}
	seen := false
	for !seen && time.Now().Before(deadline) {
		if sum, hosts := ownedSum(t, url); sum == partitions && hosts == 3 {
			seen = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !seen {
		sum, hosts := ownedSum(t, url)
		t.Errorf("owned partitions never summed to %d over 3 hosts (last: %v over %d)", partitions, sum, hosts)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
