// Package composefile checks docker-compose.yml, the emulators for Docker
// users. No Docker engine runs here: the file is validated by the compose
// client (`docker compose config`, or Debian's docker-compose), which needs
// none, and its services are checked against what the tests expect.
package composefile

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const file = "../../docker-compose.yml"

// compose returns a command line for the compose client, or nil.
func compose() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	c := compose()
	if c == nil {
		if os.Getenv("TIDEMARK_REQUIRE_COMPOSE") == "1" {
			t.Fatal("no compose client (docker compose, docker-compose): .ci/run installs Debian's docker-compose")
		}
		t.Skip("no compose client installed (apt-get install docker-compose)")
	}
	cmd := exec.Command(c[0], append(c[1:], append([]string{"-f", file}, args...)...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", strings.Join(c, " "), args, err, errb.String())
	}
	return out.String()
}

func TestComposeFileIsValid(t *testing.T) {
	run(t, "config", "-q")
}

func TestComposeServices(t *testing.T) {
	services := strings.Fields(run(t, "config", "--services"))
	sort.Strings(services)
	have := map[string]bool{}
	for _, s := range services {
		have[s] = true
	}
	for _, want := range []string{"minio", "fake-gcs-server", "azurite", "localstack", "versitygw"} {
		if !have[want] {
			t.Errorf("service %q missing (have %v)", want, services)
		}
	}
}

func TestComposePortsAndImages(t *testing.T) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ports := regexp.MustCompile(`(?m)^\s*-\s*"?([0-9.]*:?[0-9]+:[0-9]+)"?\s*$`)
	for _, m := range ports.FindAllStringSubmatch(string(raw), -1) {
		if !strings.HasPrefix(m[1], "127.0.0.1:") {
			t.Errorf("port %q is not bound to 127.0.0.1", m[1])
		}
	}
	images := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)`)
	found := images.FindAllStringSubmatch(string(raw), -1)
	if len(found) < 5 {
		t.Fatalf("found %d images", len(found))
	}
	for _, m := range found {
		if !strings.Contains(m[1], ":") || strings.HasSuffix(m[1], ":latest") {
			t.Errorf("image %q is not pinned to a version", m[1])
		}
	}
}
