package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
	"github.com/tidemark/tidemark/blobstore/membucket"
)

// Open opens a Store on the URL's provider. "mem://" and "file:///abs/dir"
// are built in; importing a provider package (s3, gcs, azblob) registers its
// scheme. The URL's "prefix" parameter sets Options.Prefix when that is
// empty; every other parameter belongs to the provider.
//
// The URL is checked as ParseStoreURL checks it: a query that does not parse
// exactly, a repeated parameter or a fragment is refused rather than dropped.
// No error Open returns shows a credential the URL carries (see RedactURL
// and ScrubSecrets), whichever layer produced it.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	u, q, err := ParseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	opener, ok := lookupScheme(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("%w: unknown scheme %q (registered: %s; import the provider package to add one)",
			ErrInvalidURL, u.Scheme, strings.Join(Schemes(), ", "))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if p := q.Get("prefix"); p != "" && o.Prefix == "" {
		o.Prefix = p
	}
	if o.Provider == "" {
		o.Provider = u.Scheme
	}
	// The provider gets the query as typed, less the parameters Open consumes.
	pu := *u
	pu.RawQuery = withoutParam(u.RawQuery, "prefix")
	pu.ForceQuery = false
	bkt, err := opener.OpenBucketURL(ctx, &pu)
	if err != nil {
		err = scrub(err, rawURL)
		if isOurs(err) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidURL, RedactURL(rawURL), err)
	}
	s, err := New(bkt, &o)
	if err != nil {
		bkt.Close()
		return nil, err
	}
	return s, nil
}

// ParseStoreURL parses a store URL and checks it as Open does: it must have
// a scheme and an authority ("scheme://…"), no fragment, and a query in which
// every parameter parses exactly (no malformed %-escape, no ';'), has a name,
// and appears at most once. It returns the URL and its parameters, each with
// one value. It does not check that the scheme is registered.
//
// Its errors wrap ErrInvalidURL, show the URL redacted, and name parameters,
// never their values, so they are safe to print.
func ParseStoreURL(raw string) (*url.URL, url.Values, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s", ErrInvalidURL, RedactURL(raw), parseErrorReason(err))
	}
	switch {
	case misreadUserinfo(raw):
		return nil, nil, fmt.Errorf("%w: %s: an '@' follows a host:port (escape a '/' in a password as %%2F)",
			ErrInvalidURL, RedactURL(raw))
	case u.Scheme == "":
		return nil, nil, fmt.Errorf("%w: %s: no scheme (want one of %s)",
			ErrInvalidURL, RedactURL(raw), strings.Join(Schemes(), ", "))
	case u.Opaque != "":
		return nil, nil, fmt.Errorf("%w: %s: want %s://…", ErrInvalidURL, RedactURL(raw), u.Scheme)
	case strings.Contains(raw, "#"):
		return nil, nil, fmt.Errorf("%w: %s: a store URL takes no fragment (write a '#' in a parameter value as %%23)",
			ErrInvalidURL, RedactURL(raw))
	}
	q, err := parseQuery(u.RawQuery)
	if err != nil {
		// The reason is text, not a second error to wrap.
		return nil, nil, fmt.Errorf("%w: %s: %s", ErrInvalidURL, RedactURL(raw), err.Error())
	}
	return u, q, nil
}

// parseQuery is url.ParseQuery made strict: it refuses what ParseQuery would
// drop or merge, and names the parameter at fault without its value.
func parseQuery(rawQuery string) (url.Values, error) {
	seen := map[string]bool{}
	for i, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue // "a=1&&b=2": an empty pair carries nothing
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		label := fmt.Sprintf("parameter %q", name)
		if err != nil || name == "" || strings.Contains(k, ";") {
			label = fmt.Sprintf("parameter #%d", i+1)
		}
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: malformed %%-escape in its name (write '%%' as %%25)", label)
		case strings.Contains(pair, ";"):
			return nil, fmt.Errorf("%s: ';' does not separate parameters (use '&', or write ';' as %%3B)", label)
		case name == "":
			return nil, fmt.Errorf("%s has no name", label)
		case seen[name]:
			return nil, fmt.Errorf("%s is given more than once", label)
		}
		if _, err := url.QueryUnescape(v); err != nil {
			return nil, fmt.Errorf("%s: malformed %%-escape in its value (write '%%' as %%25)", label)
		}
		seen[name] = true
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil { // what the loop above does not foresee, e.g. too many parameters
		return nil, errors.New("the query does not parse")
	}
	return q, nil
}

// withoutParam returns rawQuery without the pairs named name, the others as
// typed.
func withoutParam(rawQuery, name string) string {
	var keep []string
	for _, pair := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(k); pair == "" || (err == nil && n == name) {
			continue
		}
		keep = append(keep, pair)
	}
	return strings.Join(keep, "&")
}

// parseErrorReason describes a url.Parse error without quoting the URL or
// any part of it: a quoted "port" may be the tail of a password.
func parseErrorReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var hostErr url.InvalidHostError
	if errors.As(err, &hostErr) {
		return "invalid character in host name"
	}
	msg := strings.TrimPrefix(err.Error(), "net/url: ")
	if i := strings.IndexAny(msg, `":`); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// redacted replaces a credential in what is shown.
const redacted = "xxxxx"

// maxNesting bounds how deep URLs inside parameter values are searched.
const maxNesting = 3

// IsSecretParam reports whether a store URL's query parameter named name
// carries a credential, so that its value must never be shown. Ignoring
// case, such a name contains "secret", "password", "passwd", "passphrase",
// "token", "credential", "signature", "authorization" or "sas"; or ends in
// "key" (access_key, AccountKey; not kmskeyid); or is "sig", "pw", "pwd",
// "pass" or "auth".
func IsSecretParam(name string) bool {
	name = strings.ToLower(name)
	switch name {
	case "sig", "pw", "pwd", "pass", "auth":
		return true
	}
	for _, word := range []string{"secret", "password", "passwd", "passphrase", "token", "credential",
		"signature", "authorization", "sas"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return strings.HasSuffix(name, "key")
}

// RedactURL returns raw fit to show or log. The userinfo password and the
// value of every parameter IsSecretParam names become "xxxxx", as does a
// userinfo password in a parameter's value (endpoint=http://user:xxxxx@host,
// escaped or not); everything else is left as typed. A URL that does not
// parse is shown as its scheme and "<unparseable URL>", never as typed.
// It is the one redactor of store URLs, for this package's errors and for
// the programs built on it alike.
func RedactURL(raw string) string {
	s, _, ok := redactURL(raw, 0)
	if !ok {
		return unparseable(raw)
	}
	return s
}

// DisplayURL returns u as it may be shown or logged: RedactURL of u.String().
func DisplayURL(u *url.URL) string {
	return RedactURL(u.String())
}

// redactURL redacts raw, reporting whether it changed anything and whether
// raw parses at all.
func redactURL(raw string, depth int) (s string, changed, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || misreadUserinfo(raw) {
		return "", false, false
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
			changed = true
		}
	}
	if at := strings.LastIndex(u.Opaque, "@"); at >= 0 {
		// "user:pw@host" parses as scheme "user": hide all before the '@'.
		u.Opaque = redacted + u.Opaque[at:]
		changed = true
	}
	var ch bool
	u.RawQuery, ch = redactPairs(u.RawQuery, depth)
	changed = changed || ch
	_, fragment, hasFragment := strings.Cut(raw, "#")
	u.Fragment, u.RawFragment = "", ""
	s = u.String()
	if u.Scheme != "" && u.Opaque == "" && u.User == nil && u.Host == "" && u.Path == "" &&
		strings.HasPrefix(raw[len(u.Scheme):], "://") {
		s = u.Scheme + "://" + strings.TrimPrefix(s, u.Scheme+":") // String writes "mem://" as "mem:"
	}
	if hasFragment {
		fragment, ch = redactPairs(fragment, depth)
		s += "#" + fragment
		changed = changed || ch
	}
	return s, changed, true
}

// misreadUserinfo reports whether raw looks like "s3://user:1234/x@bucket":
// a password holding an unescaped '/', which url.Parse reads as a host:port
// and a path, so that the URL parses but not as its writer meant.
func misreadUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	return strings.Contains(authority, ":") && !strings.Contains(authority, "@") && strings.Contains(path, "@")
}

// redactPairs rewrites a query (or fragment) pair by pair, keeping both
// separators, '&' and ';', and every pair it does not change, as typed.
func redactPairs(s string, depth int) (string, bool) {
	var b strings.Builder
	changed := false
	for {
		i := strings.IndexAny(s, "&;")
		pair := s
		if i >= 0 {
			pair = s[:i]
		}
		r, ch := redactPair(pair, depth)
		b.WriteString(r)
		changed = changed || ch
		if i < 0 {
			return b.String(), changed
		}
		b.WriteByte(s[i])
		s = s[i+1:]
	}
}

func redactPair(pair string, depth int) (string, bool) {
	k, v, hasValue := strings.Cut(pair, "=")
	if !hasValue || v == "" {
		return pair, false
	}
	if name, err := url.QueryUnescape(k); err != nil || IsSecretParam(name) {
		return k + "=" + redacted, v != redacted
	}
	dv, err := url.QueryUnescape(v)
	if err != nil {
		if mayHoldSecret(v, depth) {
			return k + "=" + redacted, true
		}
		return pair, false
	}
	r, changed := redactValue(dv, depth)
	switch {
	case !changed:
		return pair, false
	case strings.ContainsAny(v, "%+"):
		return k + "=" + url.QueryEscape(r), true
	default:
		return k + "=" + r, true
	}
}

// redactValue redacts a parameter's unescaped value if it is a URL, with or
// without its scheme ("user:pw@host:9000"), that carries a credential.
func redactValue(v string, depth int) (string, bool) {
	if !strings.ContainsAny(v, "@?") {
		return v, false
	}
	if depth >= maxNesting {
		return redacted, true
	}
	bare := !strings.Contains(v, "://")
	in := v
	if bare {
		in = "//" + v
	}
	r, changed, ok := redactURL(in, depth+1)
	switch {
	case !ok && mayHoldSecret(v, depth):
		return redacted, true
	case !ok, !changed:
		return v, false
	case bare:
		return strings.TrimPrefix(r, "//"), true
	default:
		return r, true
	}
}

// mayHoldSecret reports whether v, which does not parse, may hold a
// credential: a userinfo, or a secret-looking parameter after a '?'.
func mayHoldSecret(v string, depth int) bool {
	_, query, _ := strings.Cut(v, "?")
	_, secret := redactPairs(query, depth+1)
	return secret || strings.Contains(v, "@")
}

// unparseable shows a URL that does not parse: its scheme, if it has a
// plausible one, and nothing else.
func unparseable(raw string) string {
	const what = "<unparseable URL>"
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" || len(scheme) > 32 {
		return what
	}
	for i := range len(scheme) {
		c := scheme[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		other := '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
		if !letter && (i == 0 || !other) {
			return what
		}
	}
	return strings.ToLower(scheme) + "://" + what
}

var (
	// userinfoInText matches the password of any URL written in a message.
	userinfoInText = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@?#"']*):[^@\s/?#"']*@`)
	// paramInText matches a query parameter written in a message.
	paramInText = regexp.MustCompile(`([?&;])([^=&;?#\s"'/]+)=([^&;#\s"']*)`)
)

// ScrubSecrets returns msg with the credentials of the store URL rawURL
// removed wherever they appear: its userinfo password, the values of its
// parameters that IsSecretParam names, and userinfo passwords inside its
// parameters' values, each as typed, unescaped, and query- or path-escaped.
// It also redacts, as RedactURL would, any URL password and secret-looking
// parameter written in msg, whatever URL they belong to. A credential
// shorter than 4 bytes is replaced only where it stands alone (not inside a
// word), so as not to mangle the message. rawURL need not parse.
func ScrubSecrets(msg, rawURL string) string {
	secrets := urlSecrets(rawURL, 0)
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	for _, s := range slices.Compact(secrets) {
		msg = replaceSecret(msg, s)
	}
	msg = userinfoInText.ReplaceAllString(msg, "${1}:"+redacted+"@")
	return paramInText.ReplaceAllStringFunc(msg, func(m string) string {
		sub := paramInText.FindStringSubmatch(m)
		sep, k, v := sub[1], sub[2], sub[3]
		v = strings.TrimRight(v, ":,.)")
		if name, err := url.QueryUnescape(k); v == "" || (err == nil && !IsSecretParam(name)) {
			return m
		}
		return sep + k + "=" + redacted + m[len(sep)+len(k)+1+len(v):]
	})
}

// urlSecrets returns the credentials raw carries, in every form a message
// may show them. It reads raw as typed, so that a URL that does not parse
// still gives up what it can.
func urlSecrets(raw string, depth int) []string {
	var out []string
	add := func(typed string) {
		forms := []string{typed}
		if dec, err := url.QueryUnescape(typed); err == nil {
			forms = append(forms, dec, url.QueryEscape(dec), url.PathEscape(dec),
				strings.TrimPrefix(url.UserPassword("", dec).String(), ":"))
		}
		if dec, err := url.PathUnescape(typed); err == nil {
			forms = append(forms, dec)
		}
		for _, f := range forms {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	_, parseErr := url.Parse(raw)
	parsed := parseErr == nil && !misreadUserinfo(raw)
	rest, fragment, _ := strings.Cut(raw, "#")
	authority, query, _ := strings.Cut(rest, "?")
	if _, after, ok := strings.Cut(authority, "://"); ok {
		authority = after
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		// Where the URL parses, an '@' after a '/' is in the path; where it
		// does not, the '/' may be in the password.
		if !parsed || !strings.Contains(userinfo, "/") {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok {
				add(pw)
			}
		}
	}
	for _, part := range []string{query, fragment} {
		for pair := range strings.FieldsFuncSeq(part, func(r rune) bool { return r == '&' || r == ';' }) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || v == "" {
				continue
			}
			if name, err := url.QueryUnescape(k); err != nil || IsSecretParam(name) {
				add(v)
				continue
			}
			if depth < maxNesting && strings.ContainsAny(v, "@?%") {
				dv, err := url.QueryUnescape(v)
				if err != nil {
					dv = v
				}
				out = append(out, urlSecrets(dv, depth+1)...)
			}
		}
	}
	return out
}

// replaceSecret replaces secret in msg; a short one only where it is not
// part of a longer word.
func replaceSecret(msg, secret string) string {
	if len(secret) >= 4 {
		return strings.ReplaceAll(msg, secret, redacted)
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, secret)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(secret)
		if (i == 0 || !isWordByte(msg[i-1])) && (end == len(msg) || !isWordByte(msg[end])) {
			b.WriteString(msg[:i] + redacted)
		} else {
			b.WriteString(msg[:end])
		}
		msg = msg[end:]
	}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// scrubbed is an error whose message has a URL's secrets removed. It unwraps
// to the original, so errors.Is and errors.As still reach it.
type scrubbed struct {
	err error
	msg string
}

func (e *scrubbed) Error() string { return e.msg }

func (e *scrubbed) Unwrap() error { return e.err }

// scrub removes from err's message the secrets the store URL rawURL carries
// (see ScrubSecrets): providers' libraries sometimes echo the URL they were
// given.
func scrub(err error, rawURL string) error {
	msg := err.Error()
	if clean := ScrubSecrets(msg, rawURL); clean != msg {
		return &scrubbed{err: err, msg: clean}
	}
	return err
}

// paramNames lists a URL's parameter names, quoted, for an error that must
// not show their values.
func paramNames(u *url.URL) string {
	var names []string
	for k := range u.Query() {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func init() {
	Register("mem", BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("mem: unknown parameters %s", paramNames(u))
		}
		name := u.Host + u.Path
		if name == "" {
			return membucket.New(), nil
		}
		return membucket.Open(name), nil
	}))
	Register("file", BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("file: unknown parameters %s", paramNames(u))
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file: want file:///absolute/path, got host %q", u.Host)
		}
		return filebucket.Open(filepath.FromSlash(u.Path))
	}))
}
