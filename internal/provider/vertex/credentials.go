package vertex

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Scope is the OAuth scope Vertex AI calls need.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// tokenTimeout bounds one token request: the token source has no context
// of its own per call, so its HTTP client carries the deadline.
const tokenTimeout = 30 * time.Second

// maxCredentialsFile bounds a credentials file read into memory.
const maxCredentialsFile = 1 << 20

// credentialTypes are the credential files a channel accepts: a
// service-account key, a user's (gcloud auth application-default login),
// workload identity federation and impersonation. Naming them keeps a
// file of any other type (which could make the process fetch arbitrary
// URLs) from being used unnoticed.
var credentialTypes = map[string]google.CredentialsType{
	"service_account":              google.ServiceAccount,
	"authorized_user":              google.AuthorizedUser,
	"external_account":             google.ExternalAccount,
	"impersonated_service_account": google.ImpersonatedServiceAccount,
}

// Tokens returns the token source of Google Application Default
// Credentials: the key file at path when it is set (a service-account key
// or another credentials file; its token_uri is honoured), else what
// google.FindDefaultCredentials finds (GOOGLE_APPLICATION_CREDENTIALS, the
// gcloud file, or the metadata server of GKE workload identity and
// Compute Engine). Token requests go through hc's transport, each bounded
// by a deadline; tokens are cached until shortly before they expire.
func Tokens(ctx context.Context, path string, hc *http.Client) (oauth2.TokenSource, error) {
	tc := &http.Client{Timeout: tokenTimeout}
	if hc != nil {
		tc.Transport = hc.Transport
	}
	// The source keeps ctx for every refresh: it must outlive the call
	// that built it, and carry the client.
	ctx = context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, tc)
	if path == "" {
		creds, err := google.FindDefaultCredentials(ctx, Scope)
		if err != nil {
			return nil, fmt.Errorf("vertex: finding Google application default credentials: %w", err)
		}
		return creds.TokenSource, nil
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("vertex: credentials file %s: not JSON: %w", path, err)
	}
	typ, ok := credentialTypes[head.Type]
	if !ok {
		return nil, fmt.Errorf("vertex: credentials file %s: type %q is not one of service_account, authorized_user, external_account, impersonated_service_account", path, head.Type)
	}
	creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx, b, typ, google.CredentialsParams{Scopes: []string{Scope}})
	if err != nil {
		return nil, fmt.Errorf("vertex: credentials file %s: %w", path, err)
	}
	return creds.TokenSource, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vertex: credentials file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return nil, fmt.Errorf("vertex: credentials file %s: %w", path, err)
	}
	if len(b) > maxCredentialsFile {
		return nil, fmt.Errorf("vertex: credentials file %s: larger than %d bytes", path, maxCredentialsFile)
	}
	return b, nil
}
