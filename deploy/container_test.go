//go:build linux

package deploy

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/fakecloud"
)

// imageUID is the numeric user the image runs as (distroless "nonroot").
const imageUID = 65532

// TestStaticBinary_EmptyRoot builds the gateway as the Dockerfile does
// (CGO_ENABLED=0, -trimpath) and runs it as the image does: from a root file
// system that holds only the binary, a CA bundle and the configuration,
// as the image's numeric non-root user, with nothing writable but the
// store's directory and /tmp, as a read-only root file system leaves it.
// The gateway creates a key, serves /healthz and /readyz, answers its own
// healthcheck, routes chat completions to a channel over TLS (verified with
// the root's CA bundle, as the image's bundle verifies the clouds) and to
// a Bedrock channel signed with SigV4, and stops cleanly on SIGTERM.
func TestStaticBinary_EmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running the binary from an empty root file system needs chroot, so root; CI runs as root")
	}
	if testing.Short() {
		t.Skip("builds the gateway binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "usr/local/bin/switchyard")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/switchyard")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the static binary: %v\n%s", err, out)
	}
	checkStatic(t, bin)

	// The simulated clouds, on loopback: OpenAI over TLS with a
	// certificate only the root's CA bundle vouches for, Bedrock in clear
	// with SigV4 checked.
	tlsCloud := httptest.NewTLSServer(fakecloud.New(fakecloud.Options{}))
	defer tlsCloud.Close()
	cloud := httptest.NewServer(fakecloud.New(fakecloud.Options{}))
	defer cloud.Close()
	bundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsCloud.Certificate().Raw})

	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  driver: sqlite
  dsn: /var/lib/switchyard/switchyard.db
providers:
  - name: openai-tls
    type: openai
    base_url: %s/openai/v1
    api_key_env: OPENAI_API_KEY
    region: us
  - name: aws-us-east-1
    type: bedrock
    base_url: %s/bedrock
    region: us-east-1
    access_key_id_env: AWS_ACCESS_KEY_ID_BEDROCK
    secret_access_key_env: AWS_SECRET_ACCESS_KEY_BEDROCK
models:
  - name: gpt-4o-mini
    offerings:
      - provider: openai-tls
  - name: claude-sonnet-4
    offerings:
      - provider: aws-us-east-1
        upstream_model: anthropic.claude-sonnet-4-20250514-v1:0
contracts:
  - name: gpt-on-openai
    match: {models: ["gpt-*"], traffic: stateless}
    allow: {providers: [openai-tls]}
`, tlsCloud.URL, cloud.URL)

	files := map[string][]byte{
		"etc/ssl/certs/ca-certificates.crt": bundle,
		"etc/switchyard/switchyard.yaml":    []byte(cfg),
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(bin, 0o555); err != nil {
		t.Fatal(err)
	}
	// The two writable places, as volumes give them: the store's directory
	// owned by the image's user, and a sticky /tmp.
	data := filepath.Join(root, "var/lib/switchyard")
	for _, d := range []string{data, filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, imageUID, imageUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	before := tree(t, root)

	const adminToken = "sy-admin-container-test"
	env := []string{
		"TMPDIR=/tmp",
		"SWITCHYARD_ADMIN_TOKEN=" + adminToken,
		"OPENAI_API_KEY=" + fakecloud.DefaultKey,
		"AWS_ACCESS_KEY_ID_BEDROCK=" + fakecloud.DefaultAWSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY_BEDROCK=" + fakecloud.DefaultAWSSecretAccessKey,
	}
	jailed := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "/usr/local/bin/switchyard", args...)
		cmd.Env = env
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID, Groups: []uint32{}},
		}
		return cmd
	}

	// A key, made by the CLI against the store in the data directory.
	out, err := jailed("keys", "create", "-config", "/etc/switchyard/switchyard.yaml", "-tenant", "acme").CombinedOutput()
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`sk-sy-[A-Za-z0-9_-]+`).FindString(string(out))
	if key == "" {
		t.Fatalf("keys create printed no key:\n%s", out)
	}

	serve := jailed("serve", "-config", "/etc/switchyard/switchyard.yaml")
	serve.Cancel = func() error { return serve.Process.Kill() }
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatalf("starting serve: %v", err)
	}
	exited := make(chan error, 1)
	var logMu sync.Mutex
	var logs strings.Builder
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		serving := regexp.MustCompile(`serving on http://(\S+) \(admin http://(\S+)\)`)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		exited <- serve.Wait()
	}()
	dump := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
	defer func() {
		if serve.ProcessState == nil {
			_ = serve.Process.Kill()
		}
	}()
	var addr, adminAddr string
	select {
	case a := <-addrs:
		addr, adminAddr = a[0], a[1]
	case err := <-exited:
		t.Fatalf("serve exited before serving: %v\n%s", err, dump())
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not start within 2 minutes\n%s", dump())
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	for _, u := range []string{"http://" + addr + "/healthz", "http://" + addr + "/readyz", "http://" + adminAddr + "/metrics"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", u, resp.Status, body)
		}
	}
	// The image's HEALTHCHECK: the binary checks itself, with no shell.
	if out, err := jailed("healthcheck", "-url", "http://"+addr+"/readyz").CombinedOutput(); err != nil {
		t.Fatalf("healthcheck: %v\n%s", err, out)
	}

	client := openai.NewClient(option.WithBaseURL("http://"+addr+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second))
	for _, tc := range []struct{ model, channel string }{
		{"gpt-4o-mini", "openai-tls"},
		{"claude-sonnet-4", "aws-us-east-1"},
	} {
		var raw *http.Response
		chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    tc.model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello from an empty root")},
		}, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.model, err, dump())
		}
		if len(chat.Choices) == 0 || chat.Choices[0].Message.Content == "" {
			t.Fatalf("%s: empty answer %+v", tc.model, chat)
		}
		if got := raw.Header.Get("x-switchyard-provider"); got != tc.channel {
			t.Errorf("%s served by %q, want %q", tc.model, got, tc.channel)
		}
	}

	// SIGTERM drains and exits 0, as a container stop does.
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, dump())
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute of SIGTERM\n%s", dump())
	}

	// Nothing was written outside the two writable places.
	for _, p := range tree(t, root) {
		if !slices.Contains(before, p) && !strings.HasPrefix(p, "var/lib/switchyard/") && !strings.HasPrefix(p, "tmp/") {
			t.Errorf("the gateway wrote %s outside its volumes", p)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "switchyard.db")); err != nil {
		t.Errorf("no store in the data directory: %v", err)
	}
}

// checkStatic fails unless bin is a statically linked ELF executable: no
// program interpreter and no shared libraries, so it runs where there is
// no libc (scratch, distroless static).
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary needs a program interpreter (dynamically linked)")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v", libs)
	}
}

// tree lists every path under root, relative to it.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			rel += "/"
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}
