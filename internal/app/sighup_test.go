package app

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

const sighupConfig = `
listen: @LISTEN@
admin: {listen: @ADMIN@, token_env: TEST_ADMIN_TOKEN}
store: {driver: sqlite, dsn: @DSN@}
providers:
  - {name: azure-sim, type: azure, base_url: @FAKECLOUD@/azure, api_key_env: TEST_SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings: [{provider: azure-sim, upstream_model: mini}]
`

// chatModel sends one chat request for model and returns the status (0
// when no response arrived).
func chatModel(addr, key, model string) int {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServe_SIGHUP runs `switchyard serve` in a child process, rewrites its
// config file and sends SIGHUP: a valid file is applied, an invalid one is
// refused with its errors in the log while the running config keeps
// serving.
func TestServe_SIGHUP(t *testing.T) {
	_, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	dir := t.TempDir()
	dsn := filepath.Join(dir, "switchyard.db")
	st, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	iss, err := (&admin.Service{Store: st}).IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", CreateTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	key := iss.Secret

	r := &replica{addr: freeAddr(), admin: freeAddr(), logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cfg := strings.NewReplacer("@LISTEN@", r.addr, "@ADMIN@", r.admin, "@DSN@", dsn,
		"@FAKECLOUD@", "http://"+cloudLn.Addr().String()).Replace(sighupConfig)
	path := filepath.Join(dir, "switchyard.yaml")
	write := func(y string) {
		t.Helper()
		// Write a new file and rename it over the old one, as editors and
		// config managers do, so the gateway never reads half a file.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	r.serve(t, path, []string{"TEST_SIM_KEY=" + fakecloud.DefaultKey, "TEST_ADMIN_TOKEN=admin-token"})
	waitFor(t, 30*time.Second, func() bool {
		select {
		case err := <-r.done:
			t.Fatalf("gateway exited: %v\n%s", err, r.logs.String())
		default:
		}
		return chatModel(r.addr, key, "gpt-4o-mini") == 200
	})
	if got := chatModel(r.addr, key, "gpt-4o-mini-2"); got != 404 {
		t.Fatalf("gpt-4o-mini-2 before the reload: status %d, want 404", got)
	}

	// A valid file with a new model: SIGHUP applies it.
	write(cfg + "  - name: gpt-4o-mini-2\n    offerings: [{provider: azure-sim, upstream_model: mini-2}]\n")
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return chatModel(r.addr, key, "gpt-4o-mini-2") == 200 })
	if logs := r.logs.String(); !strings.Contains(logs, "configuration reloaded") {
		t.Errorf("no reload in the log:\n%s", logs)
	}

	// An invalid file: refused and logged with its errors; the running
	// configuration, new model included, keeps serving.
	write(cfg + "contracts:\n  - name: half-a-contract\n")
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(r.logs.String(), "configuration reload refused") })
	if logs := r.logs.String(); !strings.Contains(logs, "contracts[0]") {
		t.Errorf("the refusal does not name the bad field:\n%s", logs)
	}
	// The same refusal through the admin API is logged too, with its
	// trigger.
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.admin+"/admin/v1/reload", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("admin reload of an invalid file: status %d, want 422", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Count(r.logs.String(), "configuration reload refused") == 2 })
	if logs := r.logs.String(); !strings.Contains(logs, "SIGHUP") || !strings.Contains(logs, "admin API") {
		t.Errorf("the refusals do not name their triggers:\n%s", logs)
	}
	for _, model := range []string{"gpt-4o-mini", "gpt-4o-mini-2"} {
		if got := chatModel(r.addr, key, model); got != 200 {
			t.Errorf("%s after the refused reload: status %d, want 200", model, got)
		}
	}
	if err := r.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("gateway exit: %v\n%s", err, r.logs.String())
	}
}
