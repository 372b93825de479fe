package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	const content = "s3cr3t-value"
	getenv := func(k string) string { return map[string]string{"SY_KEY": "from-env"}[k] }
	for _, tc := range []struct {
		name, file string // file content; "-" for no file written
		env        string
		want       string
		wantErr    string
	}{
		{name: "env", env: "SY_KEY", want: "from-env"},
		{name: "unset_env", env: "SY_UNSET", want: ""},
		{name: "neither", want: ""},
		{name: "newline", file: content + "\n", want: content},
		{name: "crlf", file: content + "\r\n", want: content},
		{name: "one_newline_only", file: content + "\n\n", want: content + "\n"},
		{name: "no_newline", file: content, want: content},
		{name: "inner_space_kept", file: " " + content + " \n", want: " " + content + " "},
		{name: "empty", file: "", wantErr: "empty"},
		{name: "just_newline", file: "\n", wantErr: "empty"},
		{name: "too_big", file: strings.Repeat(content, maxSecretFileBytes/len(content)+1), wantErr: "larger than 64 KiB"},
		{name: "missing", file: "-", wantErr: "no such file"},
		{name: "exactly_64k", file: strings.Repeat("k", maxSecretFileBytes), want: strings.Repeat("k", maxSecretFileBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var file string
			if tc.file != "" || tc.wantErr != "" || tc.want != "" && tc.env == "" {
				file = filepath.Join(dir, tc.name)
				if tc.file != "-" {
					writeFile(t, file, []byte(tc.file))
				}
			}
			got, err := secret(getenv, "providers[3].api_key", tc.env, file)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("secret = %.40q, %v; want %.40q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("secret = %.40q, want an error", got)
			}
			msg := err.Error()
			for _, w := range []string{"providers[3].api_key_file: " + file + ": ", tc.wantErr} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, content) {
				t.Errorf("error carries the content: %q", msg)
			}
		})
	}
	// Not a regular file: a directory is refused, not read.
	if _, err := secret(getenv, "store.dsn", "", dir); err == nil || !strings.Contains(err.Error(), "store.dsn_file: "+dir+": not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

const secretFileConfig = `
listen: 127.0.0.1:0
admin: {token_file: DIR/admin-token}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: openai-sim, type: openai, base_url: CLOUD/openai/v1, api_key_file: DIR/openai-key}
models:
  - name: gpt-4o-mini
    offerings: [{provider: openai-sim}]
`

// TestServe_SecretFiles: serve reads a provider key and the admin token
// from files; when the cloud's key is rotated and the mounted file with
// it, a reload picks up the new key; a reload that finds the file empty
// is refused, naming the setting and the file, and the running key stays.
func TestServe_SecretFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "openai-key")
	writeFile(t, keyFile, []byte("key-one\n"))
	writeFile(t, filepath.Join(dir, "admin-token"), []byte("admin-from-file\n"))

	// The cloud accepts one key at a time; rotating it swaps the server.
	before, after := fakecloud.New(fakecloud.Options{Key: "key-one"}), fakecloud.New(fakecloud.Options{Key: "key-two"})
	var live atomic.Pointer[fakecloud.Server]
	live.Store(before)
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { live.Load().ServeHTTP(w, r) }))
	t.Cleanup(cloud.Close)

	path := filepath.Join(dir, "switchyard.yaml")
	writeFile(t, path, []byte(strings.NewReplacer("DIR", dir, "CLOUD", cloud.URL).Replace(secretFileConfig)))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	inst, err := Start(context.Background(), cfg, &Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard},
		StartOptions{Listener: ln, AdminListener: adminLn, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Shutdown() })
	iss, err := inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", CreateTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	reload := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+inst.AdminAddr()+"/admin/v1/reload", nil)
		req.Header.Set("Authorization", "Bearer admin-from-file")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if got := chatModel(inst.Addr(), iss.Secret, "gpt-4o-mini"); got != 200 {
		t.Fatalf("with the key from the file: status %d, want 200", got)
	}
	live.Store(after)
	if got := chatModel(inst.Addr(), iss.Secret, "gpt-4o-mini"); got == 200 {
		t.Fatal("the rotated cloud accepted the old key")
	}
	writeFile(t, keyFile, []byte("key-two\n"))
	if status, body := reload(); status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	if got := chatModel(inst.Addr(), iss.Secret, "gpt-4o-mini"); got != 200 {
		t.Fatalf("after the reload: status %d, want 200", got)
	}

	writeFile(t, keyFile, []byte(""))
	status, body := reload()
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "api_key_file: "+keyFile+": empty") {
		t.Errorf("reload with an empty key file: %d %s", status, body)
	}
	if got := chatModel(inst.Addr(), iss.Secret, "gpt-4o-mini"); got != 200 {
		t.Errorf("after the refused reload: status %d, want 200", got)
	}
}

// TestReload_AdminTokenFile: a rotated admin.token_file takes effect with
// a reload; a reload that would empty it is refused and the running token
// stays.
func TestReload_AdminTokenFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_file: ` + tokenFile + `}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings: [{provider: openai-sim, price: {input_per_mtok: 1, output_per_mtok: 1}}]
`
	g, _, _ := startFromFile(t, yaml)
	call := func(token, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+g.inst.AdminAddr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("first-token", "GET", "/admin/v1/tenants"); got != 200 {
		t.Fatalf("first token: %d", got)
	}
	if err := os.WriteFile(tokenFile, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Until the reload, the running token holds.
	if got := call("second-token", "GET", "/admin/v1/tenants"); got != 401 {
		t.Errorf("second token before the reload: %d, want 401", got)
	}
	if got := call("first-token", "POST", "/admin/v1/reload"); got != 200 {
		t.Fatalf("reload: %d", got)
	}
	if a, b := call("first-token", "GET", "/admin/v1/tenants"), call("second-token", "GET", "/admin/v1/tenants"); a != 401 || b != 200 {
		t.Errorf("after the reload: first token %d (want 401), second %d (want 200)", a, b)
	}
	// An emptied file: the reload is refused, the second token stays.
	if err := os.WriteFile(tokenFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := call("second-token", "POST", "/admin/v1/reload"); got == 200 {
		t.Error("a reload that empties the admin token was accepted")
	}
	if got := call("second-token", "GET", "/admin/v1/tenants"); got != 200 {
		t.Errorf("second token after the refused reload: %d", got)
	}
}
