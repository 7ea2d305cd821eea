package azblob

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// azuriteKey is Azurite's well-known development account key (public, in
// Microsoft's documentation).
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// oneLine fails unless msg is a single line of at most max bytes that
// contains every want.
func oneLine(t *testing.T, msg string, maxLen int, want ...string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message spans lines:\n%s", msg)
	}
	if len(msg) > maxLen {
		t.Errorf("message is %d bytes, want at most %d: %s", len(msg), maxLen, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not contain %q", msg, w)
		}
	}
}

// TestResponseErrorsAreOneLine: every kind of answer the driver meets reads
// as one short line (sentinel, status, Azure's error code and message, the
// container asked), never the SDK's dump of the response, and still wraps
// the SDK's *azcore.ResponseError and the right sentinel. The driver's
// message names neither the operation nor the key: the Store does, once.
func TestResponseErrorsAreOneLine(t *testing.T) {
	ctx := testContext(t, time.Minute)
	cs, c := newContainer(ctx, t)
	b := newBucket(t, c, nil)
	if _, err := b.Put(ctx, "p0.json", []byte(`{"counter":1}`), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	missingClient := newClient(t, cs, containerName(t), nil)
	missingURL := missingClient.URL()
	missing := newBucket(t, missingClient, nil)
	cred, err := container.NewSharedKeyCredential(connField(cs, "AccountName"), "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRpZGVtYXJrIHRlc3Rz")
	if err != nil {
		t.Fatal(err)
	}
	badClient, err := container.NewClientWithSharedKeyCredential(c.URL(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := newBucket(t, badClient, nil)

	tests := []struct {
		name   string
		op     func() error
		want   error
		status string
		code   bloberror.Code
		url    string // of the container asked
	}{
		{"create-only-lost", func() error { _, err := b.Put(ctx, "p0.json", []byte(`{}`), driver.CreateOnly); return err },
			driver.ErrPrecondition, "HTTP 409", bloberror.BlobAlreadyExists, c.URL()},
		{"cas-lost", func() error { _, err := b.Put(ctx, "p0.json", []byte(`{}`), `"0x8D000000000"`); return err },
			driver.ErrPrecondition, "HTTP 412", bloberror.ConditionNotMet, c.URL()},
		{"missing-blob", func() error { _, err := b.Get(ctx, "none.json"); return err },
			driver.ErrNotFound, "HTTP 404", bloberror.BlobNotFound, c.URL()},
		{"missing-container-get", func() error { _, err := missing.Get(ctx, "p0.json"); return err },
			driver.ErrBucketNotFound, "HTTP 404", bloberror.ContainerNotFound, missingURL},
		{"missing-container-put", func() error {
			_, err := missing.Put(ctx, "p0.json", []byte(`{}`), driver.CreateOnly)
			return err
		}, driver.ErrBucketNotFound, "HTTP 404", bloberror.ContainerNotFound, missingURL},
		{"missing-container-list", func() error { _, _, err := missing.List(ctx, "", ""); return err },
			driver.ErrBucketNotFound, "HTTP 404", bloberror.ContainerNotFound, missingURL},
		{"wrong-key-get", func() error { _, err := wrongKey.Get(ctx, "p0.json"); return err },
			driver.ErrPermission, "HTTP 403", "", c.URL()},
		{"wrong-key-delete", func() error { return wrongKey.Delete(ctx, "p0.json") },
			driver.ErrPermission, "HTTP 403", "", c.URL()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			wantErr(t, tc.name, err, tc.want, tc.code)
			var re *azcore.ResponseError
			errors.As(err, &re)
			msg := err.Error()
			oneLine(t, msg, 400, tc.status, re.ErrorCode, tc.url)
			if !strings.HasPrefix(msg, tc.want.Error()+": ") {
				t.Errorf("message does not start with the sentinel %q: %s", tc.want, msg)
			}
			// Neither the operation nor the key: the Store names them.
			for _, k := range []string{"p0.json", "none.json", "azblob: get", "azblob: put", "azblob: delete", "azblob: list"} {
				if strings.Contains(msg, k) {
					t.Errorf("driver message names %q (the Store adds the op and key): %s", k, msg)
				}
			}
			for _, dump := range []string{"<?xml", "<Error>", "RESPONSE", "ERROR CODE", "-----", "x-ms-", "RequestId"} {
				if strings.Contains(msg, dump) {
					t.Errorf("message carries the SDK's dump (%q): %s", dump, msg)
				}
			}
			// The service's message is there, after the code.
			if _, after, _ := strings.Cut(msg, re.ErrorCode+": "); len(after) < 10 {
				t.Errorf("message has no service message after the code: %s", msg)
			}
			t.Logf("%d bytes, was %d: %s", len(msg), len(re.Error()), msg)
		})
	}
}

// TestTransportErrorHidesQuery: a request that never got an answer names
// the URL without its query, which holds the signature when the client uses
// a SAS.
func TestTransportErrorHidesQuery(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	const sig = "sig=c2VjcmV0LXNhcy1zaWduYXR1cmU%3D"
	c, err := container.NewClientWithNoCredential("http://127.0.0.1:1/devstoreaccount1/c?sv=2021-06-08&"+sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket(t, c, &Options{MaxRetries: -1})
	_, err = b.Get(ctx, "p0.json")
	if err == nil {
		t.Fatal("Get from a closed port succeeded")
	}
	oneLine(t, err.Error(), 400, "GET blob in container http://127.0.0.1:1/devstoreaccount1/c: ", "connection refused")
	if strings.Contains(err.Error(), "c2VjcmV0LXNhcy1zaWduYXR1cmU") {
		t.Errorf("message shows the SAS signature: %v", err)
	}
	if strings.Contains(err.Error(), "p0.json") {
		t.Errorf("driver message names the key (the Store does): %v", err)
	}
	for _, s := range []error{driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPrecondition, driver.ErrPermission} {
		if errors.Is(err, s) {
			t.Errorf("a refused connection is classified as %v: %v", s, err)
		}
	}
	t.Log(err)
}

// wantKeyOnce fails unless a Store-level message names key exactly once,
// after the operation, and wraps want.
func wantKeyOnce(t *testing.T, err, want error, op, key string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want an error wrapping %q", err, want)
	}
	msg := err.Error()
	oneLine(t, msg, 500, op+` "`+key+`": `)
	if n := strings.Count(msg, key); n != 1 {
		t.Errorf("message names the key %q %d times, want once: %s", key, n, msg)
	}
	t.Log(msg)
}

// newStore opens a blobstore.Store over a driver value of its own on c (the
// Store closes it).
func newStore(t *testing.T, c *container.Client, opts *Options) *blobstore.Store {
	t.Helper()
	b, err := OpenBucket(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := blobstore.New(b, &blobstore.Options{Prefix: "msgs/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestStoreMessageNamesKeyOnce: through a blobstore.Store, an error the
// driver reports names the operation and the key once (the Store's), with
// the driver's sentinel and Azure's answer after it. It needs no emulator.
func TestStoreMessageNamesKeyOnce(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c, err := container.NewClientWithNoCredential("http://127.0.0.1:1/devstoreaccount1/c", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, c, &Options{MaxRetries: -1})
	_, _, err = s.ReadRecordBytes(ctx, "part-7")
	wantKeyOnce(t, err, blobstore.ErrUnavailable, "get", "msgs/part-7.json")
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("message lost the transport's words: %v", err)
	}
}

// TestStoreMessagesOnAzurite: the same for Azure's answers (missing
// container, wrong key).
func TestStoreMessagesOnAzurite(t *testing.T) {
	ctx := testContext(t, time.Minute)
	cs, c := newContainer(ctx, t)
	cred, err := container.NewSharedKeyCredential(connField(cs, "AccountName"), "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRpZGVtYXJrIHRlc3Rz")
	if err != nil {
		t.Fatal(err)
	}
	badClient, err := container.NewClientWithSharedKeyCredential(c.URL(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	const key = "msgs/part-7.json"

	t.Run("missing-container", func(t *testing.T) {
		s := newStore(t, newClient(t, cs, containerName(t), nil), nil)
		_, _, err := s.ReadRecordBytes(ctx, "part-7")
		wantKeyOnce(t, err, blobstore.ErrStoreNotFound, "get", key)
		oneLine(t, err.Error(), 500, "ContainerNotFound")
	})
	t.Run("wrong-key", func(t *testing.T) {
		s := newStore(t, badClient, nil)
		_, _, err := s.ReadRecordBytes(ctx, "part-7")
		wantKeyOnce(t, err, blobstore.ErrPermission, "get", key)
		oneLine(t, err.Error(), 500, "HTTP 403")
	})
	t.Run("wrong-key-marker", func(t *testing.T) {
		s := newStore(t, badClient, nil)
		_, err := s.StoreExists(ctx)
		wantKeyOnce(t, err, blobstore.ErrPermission, "get", "msgs/tidemark-store")
	})
}

// TestInvalidContainerName: a name Azure refuses is an invalid URL when the
// URL is opened; a client made for one (OpenBucket) gets Azure's 400 with
// the naming rule.
func TestInvalidContainerName(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	cs := azurite(t)
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", cs)
	for _, name := range []string{"Tidemark_Bad", "ab", "tm--double", "-tm", "tm-", strings.Repeat("a", 64)} {
		t.Run(name, func(t *testing.T) {
			s, err := blobstore.Open(ctx, "azblob://"+name, nil)
			if err == nil {
				s.Close()
				t.Fatalf("blobstore.Open(azblob://%s) succeeded", name)
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			oneLine(t, err.Error(), 300+3*len(name), `container name "`+name+`" is not valid`, "lowercase letters, digits and hyphens")

			b := newBucket(t, newClient(t, cs, name, nil), nil)
			_, _, err = b.List(ctx, "", "")
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 400 {
				t.Fatalf("List in container %q: %v, want an HTTP 400", name, err)
			}
			for _, s := range []error{driver.ErrNotFound, driver.ErrBucketNotFound, driver.ErrPrecondition, driver.ErrPermission} {
				if errors.Is(err, s) {
					t.Errorf("classified as %v: %v", s, err)
				}
			}
			if !errors.Is(err, driver.ErrInvalidArgument) {
				t.Errorf("not classified as invalid argument (a configuration mistake, not an outage): %v", err)
			}
			oneLine(t, err.Error(), 400+len(name), "HTTP 400 "+re.ErrorCode, "check the container name")
			t.Log(err)
		})
	}
	for _, name := range []string{"$root", "tm-ok-1", "abc"} {
		if err := checkContainerName(name); err != nil {
			t.Errorf("checkContainerName(%q): %v", name, err)
		}
	}
}

// TestMalformedConnectionString: a connection string that the SDK or
// gocloud.dev cannot use is refused when the URL is opened, saying which
// variable and which part is wrong, and never showing the string (it holds
// the key). The well-formed one opens and works (with Azurite).
func TestMalformedConnectionString(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	const (
		endpoint = "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
		good     = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteKey + ";" + endpoint
	)
	tests := []struct {
		name, env, cs, want string
	}{
		{"no-account-name", "AZURE_STORAGE_CONNECTION_STRING",
			"DefaultEndpointsProtocol=http;AccountKey=" + azuriteKey + ";" + endpoint, "it has no AccountName"},
		{"no-key", "AZURE_STORAGE_CONNECTION_STRING",
			"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + endpoint, "neither AccountKey nor SharedAccessSignature"},
		{"key-cut-short", "AZURE_STORAGE_CONNECTION_STRING",
			strings.Replace(good, azuriteKey, azuriteKey[:len(azuriteKey)-5], 1), "AccountKey is not valid base64"},
		{"endpoint-without-scheme", "AZURE_STORAGE_CONNECTION_STRING",
			strings.Replace(good, "http://127.0.0.1", "127.0.0.1", 1), "BlobEndpoint is not an http:// or https:// URL"},
		{"part-without-equals", "AZURE_STORAGE_CONNECTION_STRING",
			strings.Replace(good, "AccountName=", "AccountName ", 1), "part 2 of 4 is not Name=value"},
		{"wrong-case", "AZURE_STORAGE_CONNECTION_STRING",
			strings.Replace(good, "AccountName=", "accountname=", 1), `spells AccountName as "accountname"`},
		{"quoted", "AZURE_STORAGE_CONNECTION_STRING", `"` + good + `"`, "wrapped in quotes"},
		{"bad-protocol", "AZURE_STORAGE_CONNECTION_STRING",
			strings.Replace(good, "Protocol=http;", "Protocol=htp;", 1), "DefaultEndpointsProtocol is neither http nor https"},
		{"other-variable", "AZURE_STORAGEBLOB_CONNECTIONSTRING",
			"DefaultEndpointsProtocol=http;AccountKey=" + azuriteKey + ";" + endpoint, "it has no AccountName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, env := range []string{"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
				"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"} {
				t.Setenv(env, "")
			}
			t.Setenv(tc.env, tc.cs)
			s, err := blobstore.Open(ctx, "azblob://tm-conn", nil)
			if err == nil {
				s.Close()
				t.Fatal("blobstore.Open succeeded")
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("blobstore.Open: %v, want ErrInvalidURL", err)
			}
			oneLine(t, err.Error(), 500, tc.env+" is malformed", tc.want)
			for _, secret := range []string{azuriteKey[:20], azuriteKey[len(azuriteKey)-30 : len(azuriteKey)-10], tc.cs} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message shows the connection string or its key: %v", err)
				}
			}
			t.Log(err)
		})
	}

	t.Run("well-formed", func(t *testing.T) {
		cs, c := newContainer(ctx, t)
		if problem := connectionStringProblem(good, false); problem != "" {
			t.Fatalf("the documented Azurite connection string is refused: %s", problem)
		}
		if problem := connectionStringProblem(cs, false); problem != "" {
			t.Fatalf("the emulator's connection string is refused: %s", problem)
		}
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", cs)
		u, _ := url.Parse("azblob://" + containerNameOf(c))
		b, err := new(URLOpener).OpenBucketURL(ctx, u)
		if err != nil {
			t.Fatalf("OpenBucketURL: %v", err)
		}
		defer b.Close()
		if _, _, err := b.List(ctx, "", ""); err != nil {
			t.Fatalf("List: %v", err)
		}
	})
}

// TestOpenBucketRefusesSchemelessEndpoint: a client made from a connection
// string whose BlobEndpoint has no scheme is refused by OpenBucket, instead
// of failing every request as if Azure were down.
func TestOpenBucketRefusesSchemelessEndpoint(t *testing.T) {
	cs := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteKey +
		";BlobEndpoint=127.0.0.1:10000/devstoreaccount1;"
	c, err := container.NewClientFromConnectionString(cs, "tm-c", nil)
	if err != nil {
		t.Skipf("the SDK itself refuses the connection string: %v", err)
	}
	_, err = OpenBucket(context.Background(), c, nil)
	if err == nil {
		t.Fatal("OpenBucket succeeded")
	}
	oneLine(t, err.Error(), 300, "not an http:// or https:// URL", "BlobEndpoint")
	t.Log(err)
}
