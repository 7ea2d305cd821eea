package eventhubs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const sdkModule = "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

// sdkFakes are the SDK's in-package test files the shim uses:
// processor_unit_test.go holds fakeConsumerClient and newFakePartitionClient,
// and needs inmemory_checkpoint_store_test.go to compile. The SDK's other
// test files stay out of the copy: they would add their live-test
// dependencies (test credentials, armeventhub, godotenv, gomock) for nothing.
var sdkFakes = []string{"processor_unit_test.go", "inmemory_checkpoint_store_test.go"}

// TestSDKProcessorGroup runs the Event Hubs SDK's own Processor and load
// balancer on CheckpointStore: four Processors of one consumer group join,
// one leaves, one crashes (shimGroupTest says what is checked). No emulator
// runs a Processor, and the SDK's fake Event Hub lives in its package's
// test files, so the test copies the SDK module from the module cache into
// a temporary folder, adds the two test files below, points the copy's
// go.mod at this module, and runs go test there. No SDK code is in this
// repository: the shim calls the SDK's test helpers where they are.
//
// The copy builds with this module's versions of every dependency both
// share. The fakes import testify, which this module does not use: the
// first run downloads it through GOPROXY (verified against the SDK's
// go.sum, never the checksum database); later runs work offline.
func TestSDKProcessorGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a copy of the Event Hubs SDK and runs four Processors for about 10 s")
	}
	budget := 10 * time.Minute
	if deadline, ok := t.Deadline(); ok {
		budget = min(budget, time.Until(deadline)-30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	root := filepath.Dir(goCmd(ctx, t, ".", nil, "env", "GOMOD"))
	sdk := goCmd(ctx, t, root, nil, "list", "-m", "-f", "{{.Dir}}", sdkModule)
	if sdk == "" {
		t.Fatalf("%s is not in the module cache; run go mod download", sdkModule)
	}
	goVersion := goCmd(ctx, t, root, nil, "list", "-m", "-f", "{{.GoVersion}}")
	ours := map[string]string{}
	for _, line := range strings.Split(goCmd(ctx, t, root, nil, "list", "-m", "-f", "{{.Path}} {{.Version}}", "all"), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok && version != "" {
			ours[path] = version
		}
	}

	dir := t.TempDir()
	copySDK(t, sdk, dir)
	for name, src := range map[string]string{"tidemark_shim_test.go": shimBridge, "tidemark_group_test.go": shimGroupTest} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GOSUMDB=off")
	var mod struct{ Require []struct{ Path string } }
	if err := json.Unmarshal([]byte(goCmd(ctx, t, dir, env, "mod", "edit", "-json")), &mod); err != nil {
		t.Fatal(err)
	}
	edit := []string{"mod", "edit", "-go=" + goVersion,
		"-require=github.com/tidemark/tidemark@v0.0.0", "-replace=github.com/tidemark/tidemark=" + root}
	for _, r := range mod.Require {
		if version, ok := ours[r.Path]; ok {
			edit = append(edit, "-require="+r.Path+"@"+version)
		}
	}
	goCmd(ctx, t, dir, env, edit...)
	mergeSums(t, filepath.Join(dir, "go.sum"), filepath.Join(root, "go.sum"))

	t.Logf("running TestTidemarkShim with -race in a copy of %s in %s; the first build compiles the SDK and may take a minute or two", sdkModule, dir)
	began := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-race", "-count=1", "-timeout=5m", "-run=^TestTidemarkShim$", "-v", ".")
	out := &lineLog{t: t}
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr, cmd.WaitDelay = dir, env, out, out, 10*time.Second
	err := cmd.Run()
	out.flush()
	if err != nil {
		t.Fatalf("go test in the SDK copy: %v (its output is above)", err)
	}
	t.Logf("built and passed in %v", time.Since(began).Round(time.Second))
}

// goCmd runs the go command in dir (env nil: this process's environment)
// and returns its standard output, trimmed.
func goCmd(ctx context.Context, t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, exit.Stderr)
		}
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// copySDK copies the module at from, read-only in the module cache, into to
// as writable files: every file but the tests, and the SDK's fakes.
func copySDK(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		case !d.Type().IsRegular(), strings.HasSuffix(rel, "_test.go") && !slices.Contains(sdkFakes, rel):
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

// mergeSums adds the lines of the go.sum at src to the one at dst.
func mergeSums(t *testing.T, dst, src string) {
	t.Helper()
	var lines []string
	for _, name := range []string{dst, src} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(data)), "\n")...)
	}
	slices.Sort(lines)
	if err := os.WriteFile(dst, []byte(strings.Join(slices.Compact(lines), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineLog passes a command's output to t.Log a line at a time, as it comes:
// go test -v shows it live, and a failed test shows it all.
type lineLog struct {
	t       *testing.T
	mu      sync.Mutex
	partial []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := slices.Index(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.t.Log(string(l.partial))
		l.partial = nil
	}
}

// shimBridge is written into the SDK copy as tidemark_shim_test.go, in
// package azeventhubs: it hands the SDK's unexported fakes to shimGroupTest.
// The group test cannot live in package azeventhubs itself: it imports
// eventhubs, which imports azeventhubs, and an in-package test may not
// import a package that imports the package under test.
const shimBridge = `// Written by Tidemark's eventhubs/processor_sdk_test.go into a temporary
// copy of this module; not part of the SDK.

package azeventhubs

// NewProcessorOnFakeHub returns a real Processor whose consumer client is
// this package's fakeConsumerClient (processor_unit_test.go): an Event Hub
// with the given partitions whose partition clients are newFakePartitionClient
// values. opened sees the start position the Processor computed for each
// partition client it opens.
func NewProcessorOnFakeHub(clientID string, partitionIDs []string, cps CheckpointStore, opts *ProcessorOptions,
	opened func(partitionID string, start StartPosition)) (*Processor, error) {
	return newProcessorImpl(&fakeConsumerClient{
		details: consumerClientDetails{FullyQualifiedNamespace: "fqdn", EventHubName: "event-hub",
			ConsumerGroup: "consumer-group", ClientID: clientID},
		getEventHubPropertiesResult: EventHubProperties{PartitionIDs: partitionIDs},
		newPartitionClientFn: func(partitionID string, o *PartitionClientOptions) (*PartitionClient, error) {
			opened(partitionID, o.StartPosition)
			return newFakePartitionClient(partitionID, ""), nil
		},
	}, cps, opts)
}
`

// shimGroupTest is written into the SDK copy as tidemark_group_test.go, in
// package azeventhubs_test: TestTidemarkShim, the group itself.
const shimGroupTest = `// Written by Tidemark's eventhubs/processor_sdk_test.go into a temporary
// copy of this module; not part of the SDK.

package azeventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/eventhubs"
)

// A Processor round every 200 ms (jittered x0.8-1.3); the store lease lasts
// 15 rounds; the Processor's expiry exceeds the lease, as eventhubs asks.
const (
	partitions      = 8
	updateInterval  = 200 * time.Millisecond
	expiry          = 4 * time.Second
	leaseDuration   = 3 * time.Second
	renewInterval   = time.Second
	checkpointEvery = 100 * time.Millisecond
	zombieSeq       = 1 << 40
)

// TestTidemarkShim runs four real Processors of one consumer group, each on
// an eventhubs.CheckpointStore of its own over one mem:// namespace, on the
// SDK's fake Event Hub: they join, one leaves, one crashes.
func TestTidemarkShim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := newHub(t)
	m := make([]*member, 4)
	for i := range m {
		m[i] = h.newMember(t, fmt.Sprintf("processor-%d", i))
	}

	// Join: each starts once the group before it has settled, and takes
	// its share from the others.
	for i, p := range m {
		p.start(ctx)
		took := h.waitFor(ctx, p.id+" to get its share", 30*time.Second, func() error { return h.settled(ctx, m[:i+1]...) })
		t.Logf("join: %s started; %d processors own the %d partitions, balanced, one live client each, %v later", p.id, i+1, partitions, took)
	}
	n, example := refused(m)
	t.Logf("join: %d checkpoints refused to processors that lost a partition, e.g. %v", n, example)
	if n == 0 {
		t.Error("no partition moved between processors")
	}
	h.check(t, m...)

	// Leave: processor-1's Run is cancelled between two rounds.
	leaver, rest := m[1], []*member{m[0], m[2], m[3]}
	had := h.ownedBy(ctx, leaver.id)
	leaver.gate.leaving.Store(true)
	if err := leaver.end(10 * time.Second); err != nil {
		t.Fatalf("%s: Run: %v", leaver.id, err)
	}
	if still := h.ownedBy(ctx, leaver.id); len(still) > 0 {
		t.Fatalf("%s still owns %v after Run returned", leaver.id, still)
	}
	took := h.waitFor(ctx, "the other three to take its partitions", 15*updateInterval, func() error { return h.settled(ctx, rest...) })
	t.Logf("leave: %s relinquished %v when Run returned; the others took them and rebalanced in %v", leaver.id, had, took)
	h.check(t, m...)

	// Crash: processor-2's load balancer hangs and its checkpoints stop.
	zombie, survivors := m[2], []*member{m[0], m[3]}
	zombie.freeze()
	frozen := time.Now()
	took = h.waitFor(ctx, "the survivors to take the crashed processor's partitions", 3*expiry, func() error { return h.settled(ctx, survivors...) })
	t.Logf("crash: %s froze; the survivors own everything %v later (expiry %v)", zombie.id, took, expiry)
	select {
	case <-zombie.runDone:
		t.Fatalf("%s: Run returned (%v); it should hang", zombie.id, zombie.runErr)
	default:
	}
	stale, taken := zombie.liveClients(), 0
	for id, pc := range stale {
		err := h.checkpoint(ctx, zombie.id, pc, zombieSeq)
		if !errors.Is(err, eventhubs.ErrNotOwner) {
			t.Errorf("partition %s: %s's checkpoint after the takeover: %v, want eventhubs.ErrNotOwner", id, zombie.id, err)
		}
		zombie.lost(pc, err)
		o := h.lastOpening(id)
		if !o.at.After(frozen) {
			continue // lost before the crash, and its worker had not noticed yet
		}
		taken++
		waited := o.at.Sub(o.last.sent)
		if waited < expiry {
			t.Errorf("partition %s: %s took it %v after its last write, before the expiry (%v)", id, o.by, waited, expiry)
		}
		t.Logf("crash: partition %s: %s resumed it at offset %d, the last accepted checkpoint (by %s), %v after that write; %s's checkpoint then: %v",
			id, o.by, o.last.seq, o.last.by, waited.Round(time.Millisecond), zombie.id, err)
	}
	if taken == 0 {
		t.Fatalf("none of %s's %d partitions was taken after it froze", zombie.id, len(stale))
	}
	// The new owners' checkpoints are the ones the store returns.
	h.waitFor(ctx, "the new owners to checkpoint", 10*time.Second, func() error {
		owners := h.owners(ctx)
		listed, ledger := h.checkpoints(ctx)
		for id := range stale {
			if got, want := listed[id], ledger[id]; want.by != owners[id] || got != want.seq {
				return fmt.Errorf("partition %s: ListCheckpoints says %d; last accepted %d by %s; owner %s", id, got, want.seq, want.by, owners[id])
			}
		}
		return nil
	})
	h.check(t, m...)
}

// hub is the test's view of the group: the store through an observer of its
// own, a ledger of the checkpoints the store accepted, and every partition
// client the Processors opened.
type hub struct {
	t        *testing.T
	ns       string
	ids      []string
	observer *eventhubs.CheckpointStore
	logger   *slog.Logger

	mu       sync.Mutex // held across each checkpoint, so the ledger is the store's order
	accepted map[string]mark
	opens    []opening
	bad      []string

	logMu sync.Mutex
	logs  []string
}

// mark is a checkpoint the store accepted, and when its write was sent.
type mark struct {
	seq  int64
	by   string
	sent time.Time
}

// opening is a partition client a Processor opened, and the last mark of
// its partition then.
type opening struct {
	by, partition string
	at            time.Time
	last          mark
}

func newHub(t *testing.T) *hub {
	h := &hub{t: t, ns: fmt.Sprintf("tidemark-shim-%d", time.Now().UnixNano()), accepted: map[string]mark{}}
	for i := range partitions {
		h.ids = append(h.ids, strconv.Itoa(i))
	}
	h.logger = slog.New(slog.NewTextHandler(logWriter{h}, nil))
	azlog.SetEvents(azeventhubs.EventConsumer)
	azlog.SetListener(func(_ azlog.Event, msg string) { h.log("sdk: " + msg) })
	t.Cleanup(func() { // runs last: every Processor has stopped
		azlog.SetListener(nil)
		if t.Failed() {
			t.Log("the SDK's and the stores' logs:\n" + strings.Join(h.logs, "\n"))
		}
	})
	h.observer = h.openStore(t)
	return h
}

func (h *hub) openStore(t *testing.T) *eventhubs.CheckpointStore {
	bs, err := blobstore.New(membucket.Open(h.ns), &blobstore.Options{LeaseDuration: leaseDuration, RenewInterval: renewInterval})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := eventhubs.NewCheckpointStore(bs, &eventhubs.Options{Logger: h.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cps.Close(); _ = bs.Close() })
	return cps
}

// owners maps each partition to its owner in the store ("" if relinquished).
func (h *hub) owners(ctx context.Context) map[string]string {
	h.t.Helper()
	list, err := h.observer.ListOwnership(ctx, "fqdn", "event-hub", "consumer-group", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range list {
		out[o.PartitionID] = o.OwnerID
	}
	return out
}

func (h *hub) ownedBy(ctx context.Context, id string) []string {
	var out []string
	for p, o := range h.owners(ctx) {
		if o == id {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// checkpoints returns what ListCheckpoints says and the ledger, both at one
// instant.
func (h *hub) checkpoints(ctx context.Context) (map[string]int64, map[string]mark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list, err := h.observer.ListCheckpoints(ctx, "fqdn", "event-hub", "consumer-group", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, cp := range list {
		out[cp.PartitionID] = *cp.SequenceNumber
	}
	return out, maps.Clone(h.accepted)
}

// checkpoint stores seq as pc's checkpoint and, if the store accepts it,
// enters it in the ledger.
func (h *hub) checkpoint(ctx context.Context, by string, pc *azeventhubs.ProcessorPartitionClient, seq int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	sent := time.Now()
	err := pc.UpdateCheckpoint(ctx, &azeventhubs.ReceivedEventData{SequenceNumber: seq, Offset: strconv.FormatInt(seq, 10)}, nil)
	if err == nil {
		h.accepted[pc.PartitionID()] = mark{seq: seq, by: by, sent: sent}
	}
	return err
}

// opened checks the start position a Processor computed for a partition
// client against the ledger (the last accepted checkpoint, or Earliest) and
// returns the sequence number to resume after.
func (h *hub) opened(by, id string, sp azeventhubs.StartPosition) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	last, had := h.accepted[id]
	want, got, from := "earliest", "earliest", int64(0)
	if had {
		want = "offset " + strconv.FormatInt(last.seq, 10)
	}
	switch {
	case sp.Offset != nil:
		got = "offset " + *sp.Offset
		from, _ = strconv.ParseInt(*sp.Offset, 10, 64)
	case sp.Earliest == nil || !*sp.Earliest:
		got = fmt.Sprintf("%+v", sp)
	}
	if got != want {
		h.bad = append(h.bad, fmt.Sprintf("%s opened partition %s at %s; the last accepted checkpoint says %s", by, id, got, want))
	}
	h.opens = append(h.opens, opening{by: by, partition: id, at: time.Now(), last: last})
	return from
}

func (h *hub) lastOpening(id string) opening {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range slices.Backward(h.opens) {
		if o.partition == id {
			return o
		}
	}
	return opening{}
}

// settled says why the running members do not yet share the partitions, or
// nil: each partition owned in the store by a running member, which alone
// has a live client for it, and no member more than one partition ahead.
func (h *hub) settled(ctx context.Context, running ...*member) error {
	owners := h.owners(ctx)
	count, live := map[string]int{}, map[string][]string{}
	for _, m := range running {
		select {
		case <-m.runDone:
			return fmt.Errorf("%s: Run returned %v", m.id, m.runErr)
		default:
		}
		count[m.id] = 0
		for id := range m.liveClients() {
			live[id] = append(live[id], m.id)
		}
	}
	for _, id := range h.ids {
		o := owners[id]
		if _, ok := count[o]; !ok {
			return fmt.Errorf("partition %s: owned by %q", id, o)
		}
		if len(live[id]) != 1 || live[id][0] != o {
			return fmt.Errorf("partition %s: owned by %s, live clients at %v", id, o, live[id])
		}
		count[o]++
	}
	lo, hi := partitions, 0
	for _, n := range count {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		return fmt.Errorf("unbalanced: %v", count)
	}
	return nil
}

// waitFor polls cond until it returns nil and says how long that took.
func (h *hub) waitFor(ctx context.Context, what string, within time.Duration, cond func() error) time.Duration {
	h.t.Helper()
	began := time.Now()
	for {
		err := cond()
		if err == nil {
			return since(began)
		}
		if time.Since(began) > within || ctx.Err() != nil {
			h.t.Fatalf("waited %v for %s: %v", within, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check fails the test for a wrong start position or a checkpoint error.
func (h *hub) check(t *testing.T, ms ...*member) {
	t.Helper()
	h.mu.Lock()
	for _, b := range h.bad {
		t.Error(b)
	}
	h.mu.Unlock()
	for _, m := range ms {
		m.mu.Lock()
		for _, err := range m.errs {
			t.Errorf("%s: %v", m.id, err)
		}
		m.mu.Unlock()
	}
	if t.Failed() {
		t.FailNow()
	}
}

func (h *hub) log(line string) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	h.logs = append(h.logs, time.Now().Format("15:04:05.000 ")+line)
	if len(h.logs) > 5000 {
		h.logs = slices.Delete(h.logs, 0, 1000)
	}
}

type logWriter struct{ h *hub }

func (w logWriter) Write(p []byte) (int, error) {
	w.h.log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// member is one Processor run the way an application runs it: Run in a
// goroutine, and per partition client a worker that checkpoints an event
// every checkpointEvery and closes its client when a checkpoint is refused
// (the Processor does not close the client of a partition it lost).
type member struct {
	id   string
	h    *hub
	proc *azeventhubs.Processor
	gate *gate

	cancelRun context.CancelFunc
	runDone   chan struct{}
	runErr    error
	loopDone  chan struct{}
	ended     bool

	mu       sync.Mutex
	workCtx  context.Context
	stopWork context.CancelFunc
	workers  sync.WaitGroup
	live     map[string]*azeventhubs.ProcessorPartitionClient
	from     map[string]int64 // the sequence number each client resumes after
	refused  []error          // checkpoints refused with ErrNotOwner
	errs     []error
}

// gate is the CheckpointStore a member's Processor sees: the member's own
// eventhubs.CheckpointStore, and two faults. leaving cancels Run right after
// a round's claim, so that Run stops between rounds; frozen makes the load
// balancer's next store call hang, as in a stopped process: Run never
// reaches the relinquish it defers.
type gate struct {
	azeventhubs.CheckpointStore
	leaving, frozen atomic.Bool
	cancelRun       context.CancelFunc
	dead            chan struct{} // closed when the test ends: hung calls fail
}

var errCrashed = errors.New("this processor has crashed")

func (g *gate) hang(ctx context.Context) error {
	if !g.frozen.Load() {
		return nil
	}
	select {
	case <-ctx.Done():
	case <-g.dead:
	}
	return errCrashed
}

func (g *gate) ListOwnership(ctx context.Context, ns, hub, cg string, o *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := g.hang(ctx); err != nil {
		return nil, err
	}
	return g.CheckpointStore.ListOwnership(ctx, ns, hub, cg, o)
}

func (g *gate) ClaimOwnership(ctx context.Context, want []azeventhubs.Ownership, o *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := g.hang(ctx); err != nil {
		return nil, err
	}
	got, err := g.CheckpointStore.ClaimOwnership(ctx, want, o)
	if g.leaving.Load() {
		g.cancelRun()
	}
	return got, err
}

func (h *hub) newMember(t *testing.T, id string) *member {
	m := &member{id: id, h: h, runDone: make(chan struct{}), loopDone: make(chan struct{}),
		live: map[string]*azeventhubs.ProcessorPartitionClient{}, from: map[string]int64{}}
	m.gate = &gate{CheckpointStore: h.openStore(t), dead: make(chan struct{})}
	earliest := true
	proc, err := azeventhubs.NewProcessorOnFakeHub(id, h.ids, m.gate, &azeventhubs.ProcessorOptions{
		UpdateInterval: updateInterval, PartitionExpirationDuration: expiry,
		StartPositions: azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: &earliest}},
	}, func(partitionID string, sp azeventhubs.StartPosition) {
		from := h.opened(id, partitionID, sp)
		m.mu.Lock()
		m.from[partitionID] = from
		m.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	m.proc = proc
	t.Cleanup(m.stop) // before the store closes
	return m
}

func (m *member) start(ctx context.Context) {
	runCtx, cancel := context.WithCancel(ctx)
	m.cancelRun, m.gate.cancelRun = cancel, cancel
	m.workCtx, m.stopWork = context.WithCancel(runCtx)
	go func() {
		defer close(m.runDone)
		m.runErr = m.proc.Run(runCtx)
	}()
	go func() {
		defer close(m.loopDone)
		for {
			pc := m.proc.NextPartitionClient(runCtx)
			if pc == nil {
				return
			}
			m.mu.Lock()
			m.live[pc.PartitionID()] = pc
			if m.workCtx.Err() == nil {
				m.workers.Add(1)
				go m.work(pc, m.from[pc.PartitionID()])
			}
			m.mu.Unlock()
		}
	}()
}

func (m *member) work(pc *azeventhubs.ProcessorPartitionClient, seq int64) {
	defer m.workers.Done()
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.workCtx.Done():
			return
		case <-tick.C:
		}
		seq++
		err := m.h.checkpoint(m.workCtx, m.id, pc, seq)
		switch {
		case err == nil:
		case errors.Is(err, eventhubs.ErrNotOwner):
			m.lost(pc, err)
			return
		case m.workCtx.Err() != nil:
			return
		default:
			m.mu.Lock()
			m.errs = append(m.errs, fmt.Errorf("checkpoint of partition %s: %w", pc.PartitionID(), err))
			m.mu.Unlock()
		}
	}
}

// lost closes a client whose checkpoint was refused.
func (m *member) lost(pc *azeventhubs.ProcessorPartitionClient, err error) {
	_ = pc.Close(context.Background())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused = append(m.refused, err)
	if m.live[pc.PartitionID()] == pc {
		delete(m.live, pc.PartitionID())
	}
}

func (m *member) liveClients() map[string]*azeventhubs.ProcessorPartitionClient {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.live)
}

// refused counts the checkpoints refused to ms and returns one of the errors.
func refused(ms []*member) (int, error) {
	n, example := 0, error(nil)
	for _, m := range ms {
		m.mu.Lock()
		n += len(m.refused)
		if len(m.refused) > 0 {
			example = m.refused[0]
		}
		m.mu.Unlock()
	}
	return n, example
}

// freeze crashes m: its load balancer hangs from its next store call on
// and its workers stop; its partition clients stay open.
func (m *member) freeze() {
	m.gate.frozen.Store(true)
	m.mu.Lock()
	m.stopWork()
	m.mu.Unlock()
	m.workers.Wait()
}

// end waits for Run to return (Processor.Run closes the partition clients
// it made), then for m's loops.
func (m *member) end(within time.Duration) error {
	select {
	case <-m.runDone:
	case <-time.After(within):
		return fmt.Errorf("Run did not return within %v", within)
	}
	m.ended = true
	<-m.loopDone
	m.workers.Wait()
	m.mu.Lock()
	clear(m.live)
	m.mu.Unlock()
	return m.runErr
}

// stop ends m at the end of the test; a frozen member's hung calls fail, so
// its Run returns without relinquishing.
func (m *member) stop() {
	if m.cancelRun == nil || m.ended {
		close(m.gate.dead)
		return
	}
	m.cancelRun() // first, so that Run sees its context done and returns nil
	close(m.gate.dead)
	if err := m.end(time.Minute); err != nil {
		m.h.t.Errorf("%s: Run: %v", m.id, err)
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
`
