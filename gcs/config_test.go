package gcs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore"
)

// oneLine fails unless msg is a single line that contains every want.
func oneLine(t *testing.T, msg string, want ...string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message spans lines:\n%s", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

// serviceAccountKey returns a service account key file's JSON with the given
// private_key.
func serviceAccountKey(t *testing.T, privateKey string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "tidemark-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    privateKey,
		"client_email":   "tidemark@tidemark-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCredentialsFileChecked: a GOOGLE_APPLICATION_CREDENTIALS file that
// cannot work is refused when the URL is opened, in one line that names the
// file and says what to do, never showing the file's contents. A valid key
// opens (no request is made). No emulator: with STORAGE_EMULATOR_HOST the
// client reads no credentials at all, which TestCredentialsIgnoredByEmulator
// checks.
func TestCredentialsFileChecked(t *testing.T) {
	ctx := testCtx(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	goodPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	// A PEM block whose body is not a key: what a hand-edited or truncated
	// key looks like. Its base64 must not appear in any message.
	const junk = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4"
	badPEM := "-----BEGIN PRIVATE KEY-----\n" + junk + "\n-----END PRIVATE KEY-----\n"

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		problem string // "": the open must succeed
	}{
		{"not-json", write("notjson.json", []byte("not json at all\n")), "it is not JSON (syntax error at byte 2 of 16)"},
		{"truncated", write("truncated.json", serviceAccountKey(t, goodPEM)[:100]), "it is not JSON"},
		{"pem-instead-of-json", write("key.pem", []byte(goodPEM)), "it is not JSON"},
		{"json-array", write("array.json", []byte(`["service_account"]`)), `not a JSON object with a string "type" field`},
		{"no-type", write("notype.json", []byte(`{"client_email":"x@y"}`)), `it has no "type" field`},
		{"malformed-private-key", write("badkey.json", serviceAccountKey(t, badPEM)), `"private_key" is not a valid PEM private key`},
		{"empty-private-key", write("nokey.json", serviceAccountKey(t, "")), `has no "private_key"`},
		{"missing-file", filepath.Join(dir, "does-not-exist.json"), "the file does not exist"},
		{"directory", dir, "it cannot be read"},
		{"valid-service-account", write("good.json", serviceAccountKey(t, goodPEM)), ""},
		{"authorized-user", write("user.json", []byte(`{"type":"authorized_user","client_id":"a","client_secret":"b","refresh_token":"c"}`)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STORAGE_EMULATOR_HOST", "")
			t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", tc.path)
			s, err := blobstore.Open(ctx, "gs://tm-credentials-check", nil)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("blobstore.Open with a usable credentials file: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("blobstore.Open succeeded")
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			msg := err.Error()
			oneLine(t, msg, "GOOGLE_APPLICATION_CREDENTIALS="+tc.path+" is not a valid credentials file", tc.problem, "service account key file")
			for _, secret := range []string{junk[:24], "PRIVATE KEY", "asn1", "not json at all"} {
				if strings.Contains(msg, secret) {
					t.Errorf("message shows the file's contents or a decoder dump (%q): %s", secret, msg)
				}
			}
			if len(msg) > 500 {
				t.Errorf("message is %d bytes: %s", len(msg), msg)
			}
			t.Log(msg)
		})
	}
}

// TestCredentialsIgnoredByEmulator: with STORAGE_EMULATOR_HOST the storage
// client authenticates nothing, so a broken credentials file must not stop
// the open; the bucket works.
func TestCredentialsIgnoredByEmulator(t *testing.T) {
	ctx := testCtx(t)
	c := emulatorClient(t)
	name := newBucket(ctx, t, c)
	p := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", p)
	s, err := blobstore.Open(ctx, "gs://"+name, nil)
	if err != nil {
		t.Fatalf("blobstore.Open with the emulator: %v", err)
	}
	defer s.Close()
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatalf("CreateStoreIfNotExists: %v", err)
	}
}

// TestInvalidBucketName: a name Cloud Storage refuses on every request (HTTP
// 400) is an invalid URL when opened, and OpenBucket refuses it too.
func TestInvalidBucketName(t *testing.T) {
	ctx := testCtx(t)
	valid := []string{"abc", "tm-bucket_1", "a.b.c", "example.com", strings.Repeat("a", 63),
		strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)}
	for _, name := range valid {
		if err := checkBucketName(name); err != nil {
			t.Errorf("checkBucketName(%q): %v", name, err)
		}
	}
	invalid := []string{"ab", "Tidemark_Bad", "UPPER", "-tm", "tm-", "tm..x", "192.168.1.1", "tm+x",
		strings.Repeat("a", 64), strings.Repeat("a.", 112) + "a"}
	// OpenBucket makes no request: a client that could reach nothing will do.
	c, err := gcstorage.NewClient(ctx, option.WithoutAuthentication(), option.WithEndpoint("http://127.0.0.1:1/storage/v1/"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for _, name := range invalid {
		t.Run(name, func(t *testing.T) {
			s, err := blobstore.Open(ctx, "gs://"+name, nil)
			if err == nil {
				s.Close()
				t.Fatalf("blobstore.Open(gs://%s) succeeded", name)
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			oneLine(t, err.Error(), `bucket name "`+name+`" is not valid`, "lowercase letters, digits")
			if b, err := OpenBucket(ctx, c, name, nil); err == nil {
				b.Close()
				t.Errorf("OpenBucket(%q) succeeded", name)
			}
		})
	}
}

// TestEmulatorHostChecked: a STORAGE_EMULATOR_HOST the client cannot use is
// an invalid URL, saying what form it wants.
func TestEmulatorHostChecked(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct{ name, host string }{
		{"trailing-slash", "127.0.0.1:4443/"},
		{"path", "127.0.0.1:4443/storage/v1"},
		{"space", "127.0.0.1 :4443"},
		{"empty-host-url", "http://"},
		{"other-scheme", "ftp://127.0.0.1:4443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STORAGE_EMULATOR_HOST", tc.host)
			s, err := blobstore.Open(ctx, "gs://tm-emulator-host", nil)
			if err == nil {
				s.Close()
				t.Fatal("blobstore.Open succeeded")
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			oneLine(t, err.Error(), "STORAGE_EMULATOR_HOST=", "want host:port")
			t.Log(err)
		})
	}
	for _, host := range []string{"127.0.0.1:4443", "localhost:4443", "[::1]:4443", "http://127.0.0.1:4443", "https://gcs.example:443/"} {
		if err := checkEmulatorHost(host); err != nil {
			t.Errorf("checkEmulatorHost(%q): %v", host, err)
		}
	}
}
