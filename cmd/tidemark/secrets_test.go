package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "s3://bucket?region=eu-west-1&prefix=a/b/", "s3://bucket?region=eu-west-1&prefix=a/b/"},
		{"password", "s3://AKID:s3cr3t@bucket?region=x", "s3://AKID:xxxxx@bucket?region=x"},
		{"user only", "s3://AKID@bucket", "s3://AKID@bucket"},
		{"sas", "azblob://c?sig=abc%2Bdef&sv=2020&se=2030", "azblob://c?sig=xxxxx&sv=2020&se=2030"},
		{"token and key", "gs://b?access_token=t&account_key=k&max-keys=5", "gs://b?access_token=xxxxx&account_key=xxxxx&max-keys=5"},
		{"file", "file:///var/lib/ckpt?prefix=x/", "file:///var/lib/ckpt?prefix=x/"},
		{"unparseable", "s3://a b\x00", "s3://<unparseable URL>"}, // blobstore.RedactURL keeps the scheme only
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactURL(tc.in); got != tc.want {
				t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestScrubSecrets(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret-1234")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=Zm9vYmFyYmF6;BlobEndpoint=http://x")
	tests := []struct {
		name, store, in string
		gone            []string
	}{
		{"url password anywhere", "", `open bucket s3://u:pw@bkt?region=x: bad`, []string{"pw@"}},
		{"query secret anywhere", "", `GET http://h/?X-Amz-Signature=abcd1234&x=1 failed`, []string{"abcd1234"}},
		{"store url secret value", "s3://u:longpassword@b", `something echoed longpassword`, []string{"longpassword"}},
		{"environment value", "", `credentials env-secret-1234 refused`, []string{"env-secret-1234"}},
		{"connection string key", "", `key Zm9vYmFyYmF6 refused`, []string{"Zm9vYmFyYmF6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scrubSecrets(tc.in, tc.store)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("scrubSecrets(%q) = %q still holds %q", tc.in, got, g)
				}
			}
			if !strings.Contains(got, redacted) {
				t.Errorf("scrubSecrets(%q) = %q: nothing redacted", tc.in, got)
			}
		})
	}
	if got := scrubSecrets(`list "a/b/": max-keys=1000: refused: ctx`, ""); got != `list "a/b/": max-keys=1000: refused: ctx` {
		t.Errorf("a message without secrets changed: %q", got)
	}
}

// TestSecretsNeverPrinted runs commands that fail in different places with
// credentials in the URL and the environment, and checks that none of them
// reaches stdout or stderr.
func TestSecretsNeverPrinted(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	const (
		urlPassword = "url-password-0451"
		urlSig      = "sas-signature-0451"
		envSecret   = "env-secret-key-0451"
		envToken    = "env-session-token-0451"
	)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	t.Setenv("AWS_SESSION_TOKEN", envToken)
	addr := blackhole(t)
	tests := []struct {
		name string
		args []string
	}{
		{"provider refuses a parameter", []string{"ls", "--store", "s3://AKID:" + urlPassword + "@bucket?sig=" + urlSig + "&region=x"}},
		{"unreachable endpoint", []string{"ls", "--timeout", "2s", "--store", "s3://AKID:" + urlPassword + "@bucket?region=us-east-1&use_path_style=true&endpoint=http://127.0.0.1:1"}},
		{"no answer", []string{"export", "--timeout", "1s", "--store", "s3://bucket?region=us-east-1&use_path_style=true&endpoint=http://" + addr}},
		{"file store with a password", []string{"ls", "--store", "file://u:" + urlPassword + "@localhost/tmp/nope"}},
		{"bad query on file", []string{"init", "--store", "file:///tmp/x?token=" + urlSig}},
		{"usage error", []string{"get", "--store", "s3://AKID:" + urlPassword + "@bucket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tidemark(ctx, t, tc.args...)
			if r.code == 0 {
				t.Fatalf("succeeded: %+v", r)
			}
			checkErrorLine(t, r.stderr)
			for _, s := range []string{urlPassword, urlSig, envSecret, envToken} {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("printed %q:\nstdout: %s\nstderr: %s", s, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestSecretsInTheEnvironmentURL checks the same for a URL given through
// TIDEMARK_STORE, and that export's envelope carries the URL redacted.
func TestSecretsInTheEnvironmentURL(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	const password = "env-url-password-0451"
	t.Setenv(envStore, "s3://AKID:"+password+"@bucket?region=us-east-1&endpoint=http://127.0.0.1:1&use_path_style=true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "whatever-secret")
	r := tidemark(ctx, t, "ls", "--timeout", "2s")
	checkErrorLine(t, r.stderr)
	if strings.Contains(r.stdout+r.stderr, password) {
		t.Errorf("printed the password: %s", r.stderr)
	}

	u := "file://user:" + password + "@localhost" + strings.TrimPrefix(newFileStoreURL(t), "file://")
	t.Setenv(envStore, u)
	mustRun(ctx, t, "init", "--partitions", "1")
	r = mustRun(ctx, t, "export")
	if strings.Contains(r.stdout+r.stderr, password) || !strings.Contains(r.stdout, "user:xxxxx@localhost") {
		t.Errorf("export envelope:\n%s", r.stdout)
	}
}

// blackhole listens on a loopback port, accepts connections and never
// answers; it returns host:port.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestURLParameterSecretsNeverPrinted (item 9): a password inside a
// parameter's value (endpoint=http://user:PW@host) and the value of a
// parameter named like a credential (pw=) appear in no command's output, nor
// in the export file, while the rest of the URL is shown as typed.
func TestURLParameterSecretsNeverPrinted(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	const (
		endpointPW = "pw-endpoint-0451"
		paramPW    = "pw-param-0451"
	)
	secretURL := func() string {
		dir := filepath.ToSlash(filepath.Join(t.TempDir(), "ckpt"))
		return schemeParams + "://" + dir + "?endpoint=http://minio:" + endpointPW + "@host:9000&pw=" + paramPW +
			"&region=us-east-1&prefix=orders/billing/"
	}
	src, dst, empty := secretURL(), secretURL(), secretURL()
	file := filepath.Join(t.TempDir(), "export.json")
	check := func(t *testing.T, what, text string, shown bool) {
		t.Helper()
		for _, s := range []string{endpointPW, paramPW} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the password %q:\n%s", what, s, text)
			}
		}
		if shown && (!strings.Contains(text, "host:9000") || !strings.Contains(text, "minio:"+redacted+"@")) {
			t.Errorf("%s does not show the URL redacted:\n%s", what, text)
		}
	}
	tests := []struct {
		name  string
		args  []string
		fail  bool
		shown bool // the output shows the store URL
	}{
		{"init", []string{"init", "--store", src, "--partitions", "2"}, false, true},
		{"export to a file", []string{"export", "--store", src, "-f", file}, false, true},
		{"export to stdout", []string{"export", "--store", src}, false, true},
		{"watch", []string{"watch", "--store", src, "--count", "1"}, false, true},
		{"import plan", []string{"import", "-f", file, "--store", dst}, false, true},
		{"import", []string{"import", "-f", file, "--store", dst, "--execute"}, false, false},
		{"init without partitions", []string{"init", "--store", empty}, false, true},
		{"ls of an empty store", []string{"ls", "--store", empty}, false, true},
		{"get a missing partition", []string{"get", "9", "--store", src}, true, true},
		{"get a missing partition, logged as JSON", []string{"get", "9", "--store", src, "--log-format", "json"}, true, true},
		{"a usage error", []string{"get", "--store", src}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tidemark(ctx, t, tc.args...)
			if (r.code != 0) != tc.fail {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			check(t, "tidemark "+tc.name, r.stdout+r.stderr, tc.shown)
		})
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "the export file", string(data), true)
}
