package main

import (
	"os"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/blobstore"
)

// Credentials never reach the terminal. URLs are shown through
// blobstore.RedactURL, the one redactor the library, the CLI and the demo
// share, and every error line goes through scrubSecrets: blobstore's
// ScrubSecrets for the store URL's credentials and any URL in the message,
// then the values of the providers' credential environment variables, which
// only the CLI knows to look for.

// redacted is what a credential is replaced with, as blobstore writes it.
const redacted = "xxxxx"

// secretEnv lists the environment variables whose values are credentials.
var secretEnv = []string{
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
	"AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"GOOGLE_OAUTH_ACCESS_TOKEN", "MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY",
}

// redactURL returns raw fit for display (see blobstore.RedactURL).
func redactURL(raw string) string { return blobstore.RedactURL(raw) }

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

// scrubSecrets removes credentials from s: those blobstore.ScrubSecrets
// finds (storeURL's, and any URL password or secret-looking parameter
// written in s), then every credential value of the environment wherever it
// appears. Environment values shorter than 4 bytes are not searched for:
// replacing them everywhere would mangle the message.
func scrubSecrets(s, storeURL string) string {
	s = blobstore.ScrubSecrets(s, storeURL)
	secrets := envSecrets()
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}
