package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestVersion (item 16): tidemark version prints the module version and the
// VCS revision, time and modified flag the binary was built with.
func TestVersion(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	// The ordinary test binary: the module and its version at least.
	r := exeOK(ctx, t, nil, "version")
	for _, want := range []string{"tidemark ", "module:", "github.com/tidemark/tidemark", "revision:", "time:", "modified:", "go:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version lacks %q:\n%s", want, r.stdout)
		}
	}

	// A binary built with VCS stamping from this checkout names its commit.
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to stamp a build from: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tidemark")
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		fields[f[0]] = strings.Join(f[1:], " ")
	}
	if got, want := fields["revision:"], strings.TrimSpace(string(head)); got != want {
		t.Errorf("revision %q, want HEAD %q:\n%s", got, want, out)
	}
	if _, err := time.Parse(time.RFC3339, fields["time:"]); err != nil {
		t.Errorf("time %q: %v", fields["time:"], err)
	}
	if m := fields["modified:"]; m != "true" && m != "false" {
		t.Errorf("modified %q", m)
	}
}

func TestPrintVersion(t *testing.T) {
	var b strings.Builder
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tidemark/tidemark", Version: "v0.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}}
	if err := printVersion(&b, info); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tidemark   v0.2.0\n", "module:    github.com/tidemark/tidemark\n", "revision:  abc123\n",
		"time:      2026-12-01T10:00:00Z\n", "modified:  false\n", "go:        go1.26.8 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := printVersion(&b, nil); err != nil || !strings.Contains(b.String(), "revision:  unknown") {
		t.Errorf("without build info: %v\n%s", err, b.String())
	}
}

// TestCompletion (item 16): the completion command is listed in the help and
// writes a bash script that bash accepts.
func TestCompletion(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	help := exeOK(ctx, t, nil, "--help").stdout
	for _, want := range []string{"\n  completion ", "\n  version ", "tidemark completion bash"} {
		if !strings.Contains(help, want) {
			t.Errorf("tidemark --help lacks %q:\n%s", want, help)
		}
	}
	r := exeOK(ctx, t, nil, "completion", "bash")
	if !strings.HasPrefix(r.stdout, "# bash completion V2 for tidemark") || !strings.Contains(r.stdout, "complete -o default -F __start_tidemark tidemark") {
		t.Fatalf("completion bash:\n%.300s", r.stdout)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return
	}
	script := filepath.Join(t.TempDir(), "tidemark.bash")
	if err := os.WriteFile(script, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cctx, bash, "-n", script).CombinedOutput(); err != nil {
		t.Errorf("bash -n on the completion script: %v\n%s", err, out)
	}
	// The script asks the binary for candidates: subcommands complete.
	out := exeOK(ctx, t, nil, "__complete", "rew").stdout
	if !strings.Contains(out, "rewind") {
		t.Errorf("completing \"rew\": %q", out)
	}
}
