package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// echoed holds the last URL the "echo" opener was given.
var echoed struct {
	sync.Mutex
	u *url.URL
}

// registerEcho registers, once per process, the "echo" scheme: its opener
// records its URL and fails with a message that shows that URL in every way
// a provider's library might.
var registerEcho = sync.OnceFunc(func() {
	blobstore.Register("echo", blobstore.BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		echoed.Lock()
		c := *u
		echoed.u = &c
		echoed.Unlock()
		q := u.Query()
		return nil, fmt.Errorf("echo: cannot open %s (%q, %s, query %s, params %v, encoded %s)",
			u, u.String(), u.Redacted(), u.RawQuery, q, q.Encode())
	}))
})

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"no query", "gs://bucket", "gs://bucket"},
		{"mem", "mem://", "mem://"},
		{"mem name and prefix", "mem://shared?prefix=orders/", "mem://shared?prefix=orders/"},
		{"file", "file:///var/lib/ckpt?prefix=a/b/", "file:///var/lib/ckpt?prefix=a/b/"},
		{"userinfo", "s3://AKIA:hunter2@bucket?region=eu-west-1", "s3://AKIA:xxxxx@bucket?region=eu-west-1"},
		{"user without password", "s3://AKIA@bucket", "s3://AKIA@bucket"},
		{"userinfo in a value", "s3://b?endpoint=http://user:pw@host:9000&region=x",
			"s3://b?endpoint=http://user:xxxxx@host:9000&region=x"},
		{"userinfo in an escaped value", "s3://b?endpoint=http%3A%2F%2Fuser%3Apw%40host%3A9000&region=x",
			"s3://b?endpoint=http%3A%2F%2Fuser%3Axxxxx%40host%3A9000&region=x"},
		{"userinfo in a value without scheme", "s3://b?endpoint=user:pw@host:9000",
			"s3://b?endpoint=user:xxxxx@host:9000"},
		{"secret parameter in a value's URL", "s3://b?endpoint=https%3A%2F%2Fhost%2F%3Fsig%3Dabc",
			"s3://b?endpoint=https%3A%2F%2Fhost%2F%3Fsig%3Dxxxxx"},
		{"access_key", "s3://b?access_key=AKIAXYZ&region=x", "s3://b?access_key=xxxxx&region=x"},
		{"secret_access_key", "s3://b?secret_access_key=wJalr%2Fxyz", "s3://b?secret_access_key=xxxxx"},
		{"AccountKey", "azblob://c?AccountKey=abc%3D%3D", "azblob://c?AccountKey=xxxxx"},
		{"sig", "azblob://c?sv=2022-11-02&sig=abc%2Bdef&se=2030", "azblob://c?sv=2022-11-02&sig=xxxxx&se=2030"},
		{"sas_token", "azblob://c?sas_token=sv%3D1%26sig%3Dx", "azblob://c?sas_token=xxxxx"},
		{"password", "s3://b?password=p", "s3://b?password=xxxxx"},
		{"passwd", "mem://x?passwd=hunter2", "mem://x?passwd=xxxxx"},
		{"pw", "s3://b?pw=hunter2", "s3://b?pw=xxxxx"},
		{"token", "gs://b?token=ya29.abc", "gs://b?token=xxxxx"},
		{"escaped secret name", "s3://b?%73ig=abc", "s3://b?%73ig=xxxxx"},
		{"empty secret", "s3://b?token=&region=x", "s3://b?token=&region=x"},
		{"non-secret kept byte for byte", "s3://b?region=eu-west-1&endpoint=http%3a%2f%2fminio:9000&kmskeyid=arn:aws:kms:k&prefix=a%2Fb/+c",
			"s3://b?region=eu-west-1&endpoint=http%3a%2f%2fminio:9000&kmskeyid=arn:aws:kms:k&prefix=a%2Fb/+c"},
		{"repeated", "azblob://c?sig=one&sig=two&prefix=a/&prefix=b/", "azblob://c?sig=xxxxx&sig=xxxxx&prefix=a/&prefix=b/"},
		{"semicolon", "mem://x?prefix=a;sig=secret", "mem://x?prefix=a;sig=xxxxx"},
		{"fragment", "mem://x?prefix=a#sig=secret&b", "mem://x?prefix=a#sig=xxxxx&b"},
		{"bad escape in a secret", "s3://b?token=%zzsecret", "s3://b?token=xxxxx"},
		{"bad escape beside userinfo", "s3://b?endpoint=http://u:p%zz@h", "s3://b?endpoint=xxxxx"},
		{"bad escape beside a value's secret parameter", "s3://b?endpoint=https://h/%zz?sig=abc", "s3://b?endpoint=xxxxx"},
		{"value with a '?' that is no URL", "s3://b?note=what%20now%3F", "s3://b?note=what%20now%3F"},
		{"value with an unparseable URL and no secret", "s3://b?note=a%20b%3Fc%3Dd", "s3://b?note=a%20b%3Fc%3Dd"},
		{"no authority", "user:hunter2@host", "user:xxxxx@host"},
		{"unparseable, password with a slash", "s3://user:pass/word@bucket", "s3://<unparseable URL>"},
		{"misread, numeric password with a slash", "s3://user:1234/word@bucket", "s3://<unparseable URL>"},
		{"at sign in a file path", "file:///tmp/a@b?prefix=c/", "file:///tmp/a@b?prefix=c/"},
		{"unparseable, bad escape", "gs://b/%zz?token=abc", "gs://<unparseable URL>"},
		{"unparseable, no scheme", "::bad:hunter2", "<unparseable URL>"},
		{"junk before ://", "user:pw@s3://%zz", "user:xxxxx@s3://%zz"},
		{"empty host and a query", "mem://?prefix=a/", "mem://?prefix=a/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := blobstore.RedactURL(c.in); got != c.want {
				t.Errorf("RedactURL(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestDisplayURL(t *testing.T) {
	u, err := url.Parse("s3://k:hunter2@b?secret_key=abc&region=x")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := blobstore.DisplayURL(u), "s3://k:xxxxx@b?secret_key=xxxxx&region=x"; got != want {
		t.Errorf("DisplayURL = %q, want %q", got, want)
	}
}

func TestIsSecretParam(t *testing.T) {
	for _, name := range []string{"access_key", "secret_access_key", "AccountKey", "sig", "SIG", "sas_token",
		"password", "passwd", "pw", "pwd", "pass", "auth", "token", "session_token", "X-Amz-Signature",
		"X-Amz-Credential", "client_secret", "apikey"} {
		if !blobstore.IsSecretParam(name) {
			t.Errorf("IsSecretParam(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"region", "endpoint", "prefix", "kmskeyid", "ssetype", "anonymous", "sv", "se",
		"universe_domain", "use_path_style", "passthrough", "author"} {
		if blobstore.IsSecretParam(name) {
			t.Errorf("IsSecretParam(%q) = true, want false", name)
		}
	}
}

func TestScrubSecrets(t *testing.T) {
	const raw = "s3://AKIA:hunter2pw@b?secret_key=hunter2%2Fkey&endpoint=http://minio:hunter2end@host:9000&region=x&token=ab"
	msg := strings.Join([]string{
		"user AKIA password hunter2pw",
		"key hunter2/key, escaped hunter2%2Fkey, path-escaped hunter2%2Fkey",
		"endpoint http://minio:hunter2end@host:9000 escaped http%3A%2F%2Fminio%3Ahunter2end%40host%3A9000",
		"another URL http://other:hunter2other@elsewhere/x?sig=hunter2sig&v=1",
		"short token ab in place, but not in about",
		"region=x",
	}, "; ")
	got := blobstore.ScrubSecrets(msg, raw)
	if strings.Contains(got, "hunter2") || strings.Contains(got, " ab ") {
		t.Errorf("ScrubSecrets left a secret:\n%s", got)
	}
	for _, keep := range []string{"AKIA", "minio:", "@host:9000", "other:", "&v=1", "about", "region=x"} {
		if !strings.Contains(got, keep) {
			t.Errorf("ScrubSecrets removed %q, which is no secret:\n%s", keep, got)
		}
	}
	if got := blobstore.ScrubSecrets("open s3://u:hunter2@b/x%zz: refused", "s3://u:hunter2@b/x%zz"); strings.Contains(got, "hunter2") {
		t.Errorf("ScrubSecrets with an unparseable URL left the password: %s", got)
	}
	if got := blobstore.ScrubSecrets("plain message", "mem://x"); got != "plain message" {
		t.Errorf("ScrubSecrets changed a message without secrets: %q", got)
	}
}

// Item 6: a query that does not parse exactly is refused, not dropped.
func TestOpenRefusesMalformedQueries(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	for _, c := range []struct{ name, url string }{
		{"bare percent", "mem://x?prefix=100%/"},
		{"bad escape", "mem://x?prefix=%zz/"},
		{"semicolon", "mem://x?prefix=a;b/"},
		{"fragment", "mem://x?prefix=a/#frag"},
		{"empty fragment", "mem://x#"},
		{"repeated prefix", "mem://x?prefix=a/&prefix=b/"},
		{"repeated, escaped name", "mem://x?prefix=a/&pr%65fix=b/"},
		{"parameter without a name", "mem://x?=a/"},
		{"bad escape in a name", "mem://x?pre%zzfix=a/"},
		{"file, bad escape", "file://" + dir + "?prefix=%zz/"},
		{"file, semicolon", "file://" + dir + "?prefix=a;b/"},
		{"no authority", "mem:shared"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := blobstore.Open(ctx, c.url, nil)
			if err == nil {
				t.Fatalf("Open(%q) succeeded with prefix %q, want ErrInvalidURL", c.url, s.Prefix())
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Fatalf("Open(%q) = %v, want ErrInvalidURL", c.url, err)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Open(%q): error is not one line: %q", c.url, err)
			}
			if _, _, perr := blobstore.ParseStoreURL(c.url); !errors.Is(perr, blobstore.ErrInvalidURL) {
				t.Errorf("ParseStoreURL(%q) = %v, want ErrInvalidURL", c.url, perr)
			}
		})
	}
}

func TestOpenPrefix(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	for _, c := range []struct{ url, want string }{
		{"file://" + dir + "?prefix=a/b/", "a/b/"},
		{"file://" + dir + "?prefix=a%2Fb/", "a/b/"},
		{"mem://x?&prefix=a/b/&", "a/b/"},
	} {
		s, err := blobstore.Open(ctx, c.url, nil)
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		if s.Prefix() != c.want {
			t.Errorf("Open(%q).Prefix() = %q, want %q", c.url, s.Prefix(), c.want)
		}
		s.Close()
	}
}

func TestParseStoreURL(t *testing.T) {
	u, q, err := blobstore.ParseStoreURL("s3://b?region=eu-west-1&prefix=a%2Fb/")
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "s3" || u.Host != "b" || q.Get("region") != "eu-west-1" || q.Get("prefix") != "a/b/" || len(q) != 2 {
		t.Errorf("ParseStoreURL = %v, %v", u, q)
	}
}

// The provider gets the query as typed, without prefix.
func TestOpenPassesTheQueryAsTyped(t *testing.T) {
	registerEcho()
	_, err := blobstore.Open(testCtx(t), "echo://b?region=x&prefix=p/&endpoint=http%3a%2f%2fh:9000", nil)
	if err == nil {
		t.Fatal("the echo opener succeeded")
	}
	echoed.Lock()
	got := echoed.u.RawQuery
	echoed.Unlock()
	if want := "region=x&endpoint=http%3a%2f%2fh:9000"; got != want {
		t.Errorf("the provider got query %q, want %q", got, want)
	}
}

// Item 9: no error from Open shows a credential the URL carries.
func TestOpenErrorsHideSecrets(t *testing.T) {
	registerEcho()
	ctx := testCtx(t)
	for _, c := range []struct{ name, url string }{
		{"mem secret parameter", "mem://x?passwd=hunter2pass"},
		{"mem short secret parameter", "mem://x?pw=hunter2"},
		{"mem userinfo and unknown parameter", "mem://user:hunter2@x?bad=1"},
		{"mem userinfo in a value", "mem://x?endpoint=http://u:hunter2pass@h:9000"},
		{"file secret parameter", "file:///tmp/x?token=hunter2tok"},
		{"unknown scheme", "nosuch://user:hunter2pass@bucket?sig=hunter2sig"},
		{"no scheme", "//user:hunter2pass@bucket"},
		{"bad escape beside a secret", "mem://x?prefix=%zz/&sig=hunter2sig"},
		{"bad escape in the secret", "mem://x?sig=hunter2%zz"},
		{"semicolon beside a secret", "mem://x?prefix=a;sig=hunter2sig"},
		{"fragment with a secret", "mem://x?prefix=a/#sig=hunter2sig"},
		{"repeated secret", "mem://x?sig=hunter2a&sig=hunter2b"},
		{"unparseable: slash in password", "s3://user:hunter2/pass@bucket"},
		{"misread: password with a slash", "echo://user:hunter2:99/x@bucket"},
		{"misread: numeric password with a slash", "echo://user:1234/hunter2@bucket"},
		{"unparseable: bad escape", "s3://user:hunter2pass@bucket/%zz"},
		{"provider echoes its URL", "echo://AKIA:hunter2pass@b?secret_key=hunter2%2Fkey&region=x"},
		{"provider echoes a value's userinfo", "echo://b?endpoint=http://u:hunter2end@h:9000&region=x"},
		{"provider echoes an escaped value's userinfo", "echo://b?endpoint=http%3A%2F%2Fu%3Ahunter2end%40h%3A9000"},
		{"provider echoes a value's secret parameter", "echo://b?endpoint=https%3A%2F%2Fh%2F%3Fsig%3Dhunter2sig"},
		{"provider echoes a short secret", "echo://b?pw=hunter2&token=ab"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := blobstore.Open(ctx, c.url, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", c.url)
			}
			if !errors.Is(err, blobstore.ErrInvalidURL) {
				t.Errorf("Open: %v, want ErrInvalidURL", err)
			}
			t.Log(err)
			if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "=ab") {
				t.Errorf("Open's error shows a secret: %s", msg)
			}
		})
	}
}
