package main

import (
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Credentials never reach the terminal: URLs are shown redacted, and every
// error line is scrubbed of the secrets this process knows of (a store URL's
// password and secret-looking parameters, and the values of the providers'
// credential environment variables), whatever layer produced the message.

const redacted = "xxxxx"

// isSecretParam reports whether a query parameter's value is a credential:
// its name contains secret, password, passwd, token, credential, signature or
// sas, or ends in "key" (access_key, AccountKey), or is Azure's "sig".
func isSecretParam(name string) bool {
	return secretParamName.MatchString(name)
}

var secretParamName = regexp.MustCompile(`(?i)^(?:sig|.*(?:secret|password|passwd|token|credential|signature|sas).*|.*key)$`)

// secretEnv lists the environment variables whose values are credentials.
var secretEnv = []string{
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
	"AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"GOOGLE_OAUTH_ACCESS_TOKEN", "MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY",
}

// redactURL returns raw fit for display: the password replaced, and the
// values of secret-looking query parameters replaced.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	// Rewrite the query pair by pair, so what is not secret reads exactly
	// as the operator typed it.
	pairs := strings.Split(u.RawQuery, "&")
	for i, pair := range pairs {
		k, _, hasValue := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && isSecretParam(name) {
			pairs[i] = k + "=" + redacted
		}
	}
	u.RawQuery = strings.Join(pairs, "&")
	return u.String()
}

// urlSecrets returns the credential strings a store URL carries, raw and
// escaped as they may appear in messages.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if p, has := u.User.Password(); has {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	for k, vs := range u.Query() {
		if isSecretParam(k) {
			for _, v := range vs {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	return out
}

// envSecrets returns the credential values set in the environment, and for
// a connection string its AccountKey and SharedAccessSignature fields too.
func envSecrets() []string {
	var out []string
	for _, name := range secretEnv {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		out = append(out, v)
		for _, field := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(field, "=")
			if ok && (strings.EqualFold(k, "AccountKey") || strings.EqualFold(k, "SharedAccessSignature")) {
				out = append(out, val)
			}
		}
	}
	return out
}

var (
	// userinfoPassword matches the password of a URL written in a message.
	userinfoPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@?#]*):[^@\s/?#]*@`)
	// secretQuery matches a secret-looking query parameter written in a
	// message, whatever URL it belongs to.
	secretQuery = regexp.MustCompile(`(?i)([?&](?:sig|[^=&\s"]*(?:secret|password|passwd|token|credential|signature|sas)[^=&\s"]*|[^=&\s"]*key)=)(?:[^&\s"]*[^&\s":])?`)
)

// scrubSecrets removes credentials from s: any URL password and
// secret-looking query parameter in it, and every credential value of
// storeURL and of the environment wherever it appears. Values shorter than 4
// bytes are not searched for on their own: replacing them everywhere would
// mangle the message (they are still caught in URL form).
func scrubSecrets(s, storeURL string) string {
	s = userinfoPassword.ReplaceAllString(s, "${1}:"+redacted+"@")
	s = secretQuery.ReplaceAllString(s, "${1}"+redacted)
	secrets := append(urlSecrets(storeURL), envSecrets()...)
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}
