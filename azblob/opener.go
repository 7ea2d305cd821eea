package azblob

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

func init() {
	blobstore.Register(Scheme, new(URLOpener))
}

// URLOpener opens azblob://CONTAINER URLs; see the package doc for the
// environment variables and query parameters. It is registered for Scheme.
type URLOpener struct {
	// Options are passed to OpenBucket.
	Options Options
}

// OpenBucketURL implements blobstore.BucketURLOpener. It lets gocloud.dev's
// azureblob opener build the container client (credentials, service URL,
// SAS origin check) and takes the client with Bucket.As; gocloud's bucket is
// used for nothing else.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("azblob: URL %q names no container", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("azblob: URL %q has a path; use the prefix parameter", u.Redacted())
	}
	if err := checkContainerName(u.Host); err != nil {
		return nil, fmt.Errorf("azblob: URL %q: %w", u.Redacted(), err)
	}
	q := u.Query()
	if err := checkConnectionStringEnv(q.Has("storage_account")); err != nil {
		return nil, err
	}
	for _, p := range []string{"prefix", "key"} {
		// gocloud's mux would apply these to its own bucket, which this
		// driver bypasses: refuse rather than ignore them.
		if q.Has(p) {
			return nil, fmt.Errorf("azblob: URL parameter %q is not supported here", p)
		}
	}
	gu := *u
	gu.Scheme = azureblob.Scheme
	gu.Path = ""
	gb, err := blob.DefaultURLMux().OpenBucketURL(ctx, &gu)
	if err != nil {
		return nil, fmt.Errorf("azblob: open %q: %w", u.Redacted(), err)
	}
	var client *container.Client
	if !gb.As(&client) {
		_ = gb.Close()
		return nil, fmt.Errorf("azblob: open %q: gocloud bucket exposes no *container.Client", u.Redacted())
	}
	b, err := openBucket(client, &o.Options)
	if err != nil {
		_ = gb.Close()
		return nil, err
	}
	b.onClose = gb.Close
	return b, nil
}

// containerNameRule is Azure's rule for container names.
const containerNameRule = "Azure container names are 3 to 63 lowercase letters, digits and hyphens, start and end with a letter or digit, and have no two hyphens in a row ($root, $web and $logs excepted)"

// checkContainerName refuses a container name Azure would answer with 400
// InvalidResourceName or OutOfRangeInput on every request.
func checkContainerName(name string) error {
	switch name {
	case "$root", "$web", "$logs":
		return nil
	}
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		name[0] != '-' && name[len(name)-1] != '-'
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("container name %q is not valid: %s", name, containerNameRule)
	}
	return nil
}

// checkConnectionStringEnv checks the connection string that gocloud.dev's
// azureblob (v0.47.0) takes its credentials from: AZURE_STORAGE_CONNECTION_STRING
// or AZURE_STORAGEBLOB_CONNECTIONSTRING, unless AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY, or AZURE_STORAGE_SAS_TOKEN, take precedence. Left to
// gocloud and the SDK, a malformed one reads "Options.AccountName is
// required" or "connection string is either blank or malformed". The error
// says which variable and what part is wrong, and never shows the value: it
// holds the account key.
func checkConnectionStringEnv(accountInURL bool) error {
	if os.Getenv("AZURE_STORAGE_ACCOUNT") != "" && os.Getenv("AZURE_STORAGE_KEY") != "" ||
		os.Getenv("AZURE_STORAGE_SAS_TOKEN") != "" {
		return nil
	}
	for _, env := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"} {
		cs := os.Getenv(env)
		if cs == "" {
			continue
		}
		if problem := connectionStringProblem(cs, accountInURL || os.Getenv("AZURE_STORAGE_ACCOUNT") != ""); problem != "" {
			return fmt.Errorf("azblob: %s is malformed: %s; it needs Name=value parts separated by \";\": AccountName, AccountKey (or SharedAccessSignature), and for Azurite BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1 (the value is not shown: it holds a secret)", env, problem)
		}
		return nil
	}
	return nil
}

// connectionStringProblem returns what is wrong with an Azure connection
// string, or "" if the SDK and gocloud.dev will accept it. It parses as the
// SDK does (azblob v1.8.0 internal/shared.ParseConnectionString): parts
// separated by ";", each Name=value, names case-sensitive. The result names
// parts, never values.
func connectionStringProblem(cs string, accountElsewhere bool) string {
	if strings.HasPrefix(cs, `"`) || strings.HasPrefix(cs, "'") {
		return "it is wrapped in quotes: remove them"
	}
	known := []string{"DefaultEndpointsProtocol", "AccountName", "AccountKey", "SharedAccessSignature",
		"BlobEndpoint", "EndpointSuffix", "QueueEndpoint", "TableEndpoint", "FileEndpoint"}
	parts := strings.Split(strings.TrimRight(cs, ";"), ";")
	fields := make(map[string]string, len(parts))
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Sprintf("part %d of %d is not Name=value", i+1, len(parts))
		}
		for _, k := range known {
			if name != k && strings.EqualFold(strings.TrimSpace(name), k) {
				return fmt.Sprintf("part %d of %d spells %s as %q: names are case-sensitive", i+1, len(parts), k, name)
			}
		}
		fields[name] = value
	}
	_, hasName := fields["AccountName"]
	key, hasKey := fields["AccountKey"]
	_, hasSAS := fields["SharedAccessSignature"]
	switch {
	case !hasName && !accountElsewhere:
		return "it has no AccountName"
	case (!hasName || !hasKey) && !hasSAS:
		return "it has neither AccountKey nor SharedAccessSignature"
	}
	if hasKey && !hasSAS {
		if _, err := base64.StdEncoding.DecodeString(key); err != nil {
			return "its AccountKey is not valid base64 (cut short, or with extra characters?)"
		}
	}
	if p, ok := fields["DefaultEndpointsProtocol"]; ok && p != "http" && p != "https" {
		return "its DefaultEndpointsProtocol is neither http nor https"
	}
	if ep, ok := fields["BlobEndpoint"]; ok {
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "its BlobEndpoint is not an http:// or https:// URL"
		}
	}
	return ""
}
