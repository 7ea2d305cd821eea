package filebucket_test

// Tests with several OS processes sharing one directory. The test binary
// re-executes itself in a worker mode chosen by TIDEMARK_FILEBUCKET_WORKER.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
)

const workerEnv = "TIDEMARK_FILEBUCKET_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(workerEnv); mode != "" {
		if err := runWorker(mode, os.Args[len(os.Args)-3:]); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runWorker(mode string, args []string) error {
	dir, name := args[0], args[1]
	n, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch mode {
	case "acquire":
		// Race for partitions r0..r(n-1), each round starting at the same
		// wall-clock instant in every process.
		s, err := blobstore.Open(ctx, "file://"+dir, &blobstore.Options{Owner: name})
		if err != nil {
			return err
		}
		start := time.Unix(0, mustInt64(os.Getenv("TIDEMARK_START_NS")))
		for r := 0; r < n; r++ {
			time.Sleep(time.Until(start.Add(time.Duration(r) * 25 * time.Millisecond)))
			_, err := s.Acquire(ctx, fmt.Sprintf("r%d", r))
			switch {
			case err == nil:
				fmt.Printf("r%d won\n", r)
			case errors.Is(err, blobstore.ErrLeaseHeld):
				fmt.Printf("r%d held\n", r)
			default:
				fmt.Printf("r%d error %v\n", r, err)
			}
		}
		return nil
	case "increment":
		// Read-modify-CAS a shared counter n times.
		b, err := filebucket.Open(dir)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			for {
				obj, err := b.Get(ctx, "counter")
				if err != nil {
					return err
				}
				v, _ := strconv.Atoi(string(obj.Data))
				_, err = b.Put(ctx, "counter", []byte(strconv.Itoa(v+1)), obj.Version)
				if err == nil {
					break
				}
				if !errors.Is(err, driver.ErrPrecondition) {
					return err
				}
			}
		}
		return nil
	case "write":
		// Rewrite one large object as fast as possible until killed.
		b, err := filebucket.Open(dir)
		if err != nil {
			return err
		}
		for i := 0; ; i++ {
			obj, err := b.Get(ctx, "big")
			if err != nil {
				return err
			}
			if _, err := b.Put(ctx, "big", bigPayload(i, n), obj.Version); err != nil {
				return err
			}
			if i == 0 {
				fmt.Println("writing")
			}
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func mustInt64(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

// bigPayload is a self-checking object of about size bytes.
type payload struct {
	Seq  int    `json:"seq"`
	Sum  string `json:"sum"`
	Body string `json:"body"`
}

func bigPayload(seq, size int) []byte {
	body := strings.Repeat(strconv.Itoa(seq%10), size)
	sum := sha256.Sum256([]byte(body))
	b, _ := json.Marshal(payload{Seq: seq, Sum: hex.EncodeToString(sum[:]), Body: body})
	return b
}

func worker(ctx context.Context, t *testing.T, mode, dir, name string, n int, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", dir, name, strconv.Itoa(n))
	cmd.Env = append(append(os.Environ(), workerEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestProcessesRaceForLeases(t *testing.T) {
	const procs, rounds = 8, 40
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := blobstore.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rounds; r++ {
		if _, err := s.CreateLeaseIfNotExists(ctx, fmt.Sprintf("r%d", r)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(2 * time.Second) // time for every process to start
	outs := make([]*bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		outs[i] = new(bytes.Buffer)
		cmds[i] = worker(ctx, t, "acquire", dir, fmt.Sprintf("proc-%d", i), rounds,
			fmt.Sprintf("TIDEMARK_START_NS=%d", start.UnixNano()))
		cmds[i].Stdout = outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	winners := make([][]int, rounds)
	held := 0
	for i, out := range outs {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r int
			var what string
			if _, err := fmt.Sscanf(sc.Text(), "r%d %s", &r, &what); err != nil {
				t.Fatalf("process %d printed %q", i, sc.Text())
			}
			switch what {
			case "won":
				winners[r] = append(winners[r], i)
			case "held":
				held++
			default:
				t.Errorf("process %d: %s", i, sc.Text())
			}
		}
	}
	for r, w := range winners {
		if len(w) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", r, w)
		}
		l, _, err := s.GetLease(ctx, fmt.Sprintf("r%d", r))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("proc-%d", w[0]); l.Owner != want || l.Epoch != 1 {
			t.Fatalf("round %d: stored owner %q epoch %d, want %s at epoch 1", r, l.Owner, l.Epoch, want)
		}
	}
	if held != rounds*(procs-1) {
		t.Fatalf("%d refusals, want %d", held, rounds*(procs-1))
	}
}

func TestProcessesNeverLoseAnUpdate(t *testing.T) {
	const procs, each = 6, 150
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := filebucket.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "counter", []byte("0"), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = worker(ctx, t, "increment", dir, "", each)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	obj, err := b.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(obj.Data); got != strconv.Itoa(procs*each) {
		t.Fatalf("counter = %s after %d compare-and-swap increments", got, procs*each)
	}
}

func TestKilledWriterNeverTearsARecord(t *testing.T) {
	const kills, size = 12, 2 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := filebucket.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "big", bigPayload(0, size), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < kills; k++ {
		cmd := worker(ctx, t, "write", dir, "", size)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n') // it has written once
		if line != "writing\n" {
			t.Fatalf("writer said %q", line)
		}
		time.Sleep(time.Duration(5+k*7) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		obj, err := b.Get(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		var p payload
		if err := json.Unmarshal(obj.Data, &p); err != nil {
			t.Fatalf("kill %d: torn object (%d bytes): %v", k, len(obj.Data), err)
		}
		if sum := sha256.Sum256([]byte(p.Body)); hex.EncodeToString(sum[:]) != p.Sum {
			t.Fatalf("kill %d: object body does not match its checksum", k)
		}
		// The next writer (and any other process) can still write.
		if _, err := b.Put(ctx, "big", obj.Data, obj.Version); err != nil {
			t.Fatalf("kill %d: write after the crash: %v", k, err)
		}
	}
	// Temporary files of killed writers are never listed as objects.
	entries, _, err := b.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Key != "big" {
		t.Fatalf("List = %v, want only big", entries)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, ".tidemark-fs", "tmp")); len(tmp) > 1 {
		t.Logf("%d temporary files left by killed writers (swept after a minute)", len(tmp))
	}
}
