package azblob

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// wrapError is the one place where Azure's answers become driver sentinels.
// It returns the sentinel, if one applies, and err, and nothing else: it
// names neither the operation nor the key (blobstore.Store adds both, once).
// err stays reachable with errors.As. Anything it does not classify is left
// for the caller to treat as unknown.
//
// The message is one line. The SDK's *azcore.ResponseError prints the request
// line, the status, the error code and the whole XML body over a dozen lines;
// here an answer reads "<sentinel>: GET blob in container <container URL
// without query>: HTTP <status> <code>: <first line of the service's
// message>", plus what to do when the answer is a configuration mistake (an
// invalid container name). A transport error reads the same way up to the
// URL, then gives the transport's words. The blob's own URL is not shown: it
// ends with the key, which the Store's message already names.
func (b *bucket) wrapError(err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	var msg string
	if s := sentinelFor(err); s != nil {
		errs = append(errs, s)
		msg = s.Error() + ": "
	}
	errs = append(errs, err)
	var re *azcore.ResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		msg += b.summarize(re)
	case errors.As(err, &ue):
		// Keep whatever wraps the *url.Error; replace its own words, which
		// quote the blob's URL (key and SAS signature included).
		own := b.where(ue.Op, ue.URL) + ": " + ue.Err.Error()
		if full := err.Error(); strings.Contains(full, ue.Error()) {
			msg += strings.Replace(full, ue.Error(), own, 1)
		} else {
			msg += own
		}
	default:
		msg += err.Error()
	}
	return &azureError{msg: msg, errs: errs}
}

// azureError is wrapError's result: a one-line message that unwraps to the
// driver sentinel (if any) and to the SDK's error.
type azureError struct {
	msg  string
	errs []error
}

func (e *azureError) Error() string   { return e.msg }
func (e *azureError) Unwrap() []error { return e.errs }

// summarize renders an Azure answer on one line.
func (b *bucket) summarize(re *azcore.ResponseError) string {
	var sb strings.Builder
	if resp := re.RawResponse; resp != nil && resp.Request != nil && resp.Request.URL != nil {
		sb.WriteString(b.where(resp.Request.Method, resp.Request.URL.String()) + ": ")
	}
	fmt.Fprintf(&sb, "HTTP %d", re.StatusCode)
	if re.ErrorCode != "" {
		sb.WriteString(" " + re.ErrorCode)
	}
	if m := serviceMessage(re.RawResponse); m != "" {
		sb.WriteString(": " + m)
	}
	switch bloberror.Code(re.ErrorCode) {
	case bloberror.InvalidResourceName, bloberror.OutOfRangeInput:
		sb.WriteString("; check the container name: " + containerNameRule)
	}
	return sb.String()
}

// where names a request without its key and query: "GET blob in container
// <container URL>" for a request on a blob of this bucket's container, "GET
// container <container URL>" for one on the container itself (List Blobs),
// and the method and host alone for anything else.
func (b *bucket) where(method, rawURL string) string {
	method = strings.ToUpper(method)
	cu, cerr := url.Parse(b.client.URL())
	u, err := url.Parse(rawURL)
	if err != nil || cerr != nil {
		return method + " (unparsable URL)"
	}
	host := u.Scheme + "://" + u.Host
	cpath := strings.TrimSuffix(cu.EscapedPath(), "/")
	path := u.EscapedPath()
	switch {
	case u.Host != cu.Host:
	case path == cpath || path == cpath+"/":
		return method + " container " + host + cpath
	case strings.HasPrefix(path, cpath+"/"):
		return method + " blob in container " + host + cpath
	}
	return method + " " + host
}

// serviceMessage returns the first line of the message in an Azure error
// answer: the <Message> of the XML body, or, for a HEAD answer, which has no
// body, the status line's reason phrase (Azure puts the message there too).
func serviceMessage(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	var msg string
	if body, err := runtime.Payload(resp); err == nil && len(body) > 0 {
		var x struct {
			Message string `xml:"Message"`
		}
		if xml.Unmarshal(body, &x) == nil {
			msg = x.Message
		}
	}
	if msg == "" {
		_, reason, _ := strings.Cut(resp.Status, " ")
		if reason != http.StatusText(resp.StatusCode) {
			msg = reason
		}
	}
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	msg = strings.TrimSpace(msg)
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// withoutQuery drops a URL's query if it carries a SAS signature.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s, _, _ := strings.Cut(raw, "?")
		return s
	}
	if q := u.Query(); q.Has("sig") || q.Has("Sig") || u.User != nil {
		u.RawQuery = ""
		u.User = nil
		return u.String() + "?(SAS not shown)"
	}
	return u.String()
}

func sentinelFor(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch bloberror.Code(re.ErrorCode) {
		case bloberror.BlobAlreadyExists, // 409: If-None-Match "*" on an existing blob
			bloberror.ConditionNotMet: // 412: If-Match on another ETag
			return driver.ErrPrecondition
		case bloberror.BlobNotFound:
			return driver.ErrNotFound
		case bloberror.ContainerNotFound:
			return driver.ErrBucketNotFound
		case bloberror.InvalidResourceName, bloberror.OutOfRangeInput:
			return driver.ErrInvalidArgument
		}
		// Every 401/403 is about credentials or rights (AuthenticationFailed,
		// AuthorizationFailure, AuthorizationPermissionMismatch, ...): never
		// "no such object".
		if re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden {
			return driver.ErrPermission
		}
		return nil
	}
	// Token acquisition failed before any storage request was made.
	var authFailed *azidentity.AuthenticationFailedError
	var authRequired *azidentity.AuthenticationRequiredError
	if errors.As(err, &authFailed) || errors.As(err, &authRequired) {
		return driver.ErrPermission
	}
	return nil
}
