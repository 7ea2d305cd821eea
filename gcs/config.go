package gcs

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The checks below catch, when a bucket is opened, configuration mistakes
// that the storage client would otherwise report on every request as if the
// service were down, or not at all.

// bucketNameRule is Cloud Storage's rule for bucket names.
const bucketNameRule = "bucket names are 3 to 63 lowercase letters, digits, hyphens, underscores and dots (up to 222 with dots, 63 between two dots), start and end with a letter or digit, and are not IP addresses"

// checkBucketName refuses a name Cloud Storage answers with 400 on every
// request.
func checkBucketName(name string) error {
	ok := len(name) >= 3 && len(name) <= 222 && (len(name) <= 63 || strings.Contains(name, ".")) &&
		isAlnum(name[0]) && isAlnum(name[len(name)-1]) && net.ParseIP(name) == nil
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '-' || c == '_' || c == '.'
	}
	for part := range strings.SplitSeq(name, ".") {
		ok = ok && part != "" && len(part) <= 63
	}
	if !ok {
		return fmt.Errorf("bucket name %q is not valid: %s", name, bucketNameRule)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkEmulatorHost checks STORAGE_EMULATOR_HOST, which the storage client
// takes as host:port (it adds http://) or as an http(s) URL.
func checkEmulatorHost(host string) error {
	const want = "want host:port, e.g. STORAGE_EMULATOR_HOST=127.0.0.1:4443, or http://host:port"
	var ok bool
	if strings.Contains(host, "://") {
		// The client parses it and replaces the path.
		u, err := url.Parse(host)
		ok = err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
	} else {
		// The client uses it verbatim as the URL's host.
		u, err := url.Parse("http://" + host)
		ok = err == nil && u.Host == host && u.Hostname() != "" && u.User == nil
	}
	if !ok {
		return fmt.Errorf("STORAGE_EMULATOR_HOST=%q is not a valid emulator address: %s", host, want)
	}
	return nil
}

// checkCredentials checks the file Application Default Credentials will read
// (GOOGLE_APPLICATION_CREDENTIALS, else gcloud's well-known file), as the
// auth library does, but only so far as no request is needed: that it is a
// JSON object with a type, and for a service account key that its private key
// parses. Left to the storage client, a file that is not JSON fails the open
// with the JSON decoder's message and no file name, and a broken private key
// fails every request with a kilobyte of ASN.1 decoder output. The error
// names the file and what is wrong, never its contents.
func checkCredentials() error {
	path := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	fromEnv := path != ""
	if !fromEnv {
		path = wellKnownCredentialsFile()
	}
	if path == "" {
		return nil
	}
	problem := credentialsProblem(path)
	if problem == "" || (!fromEnv && problem == "missing") {
		return nil
	}
	if problem == "missing" {
		problem = "the file does not exist"
	}
	if fromEnv {
		return fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS=%s is not a valid credentials file: %s; point it at a service account key file (download a new key if this one is damaged) or unset it to use gcloud's or the environment's default credentials", path, problem)
	}
	return fmt.Errorf("the application default credentials file %s is not a valid credentials file: %s; run 'gcloud auth application-default login' again, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file", path, problem)
}

// wellKnownCredentialsFile is where gcloud auth application-default login
// writes credentials (cloud.google.com/go/auth's credsfile).
func wellKnownCredentialsFile() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("APPDATA"); d != "" {
			return filepath.Join(d, "gcloud", "application_default_credentials.json")
		}
		return ""
	}
	home := os.Getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
}

// credentialsProblem returns what is wrong with the credentials file at path,
// "missing" if it does not exist, or "" if it looks usable.
func credentialsProblem(path string) string {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return "it cannot be read: " + err.Error()
	}
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		// The decoder's own message quotes the file's bytes: say where only.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Sprintf("it is not JSON (syntax error at byte %d of %d)", se.Offset, len(data))
		}
		return "it is not a JSON object with a string \"type\" field"
	}
	if f.Type == "" {
		return `it has no "type" field`
	}
	if f.Type != "service_account" {
		return "" // user, external account, ...: the auth library checks these
	}
	switch {
	case f.ClientEmail == "":
		return `the service account key has no "client_email"`
	case f.PrivateKey == "":
		return `the service account key has no "private_key"`
	case !parsesAsPrivateKey(f.PrivateKey):
		return `the service account key's "private_key" is not a valid PEM private key`
	}
	return ""
}

// parsesAsPrivateKey parses as cloud.google.com/go/auth's internal.ParseKey
// does: PEM (or raw DER), then PKCS #8, PKCS #1 or SEC 1 EC.
func parsesAsPrivateKey(key string) bool {
	der := []byte(key)
	if block, _ := pem.Decode(der); block != nil {
		der = block.Bytes
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}
