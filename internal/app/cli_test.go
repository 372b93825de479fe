package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
)

const cliConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    offerings: [{provider: openai-sim, price: {input_per_mtok: 1, output_per_mtok: 2}}]
`

// cliGateway is a running gateway with an admin token, and the config
// file it was started from, for running the operator commands against it
// either way.
type cliGateway struct {
	inst       *Instance
	cfgPath    string
	adminURL   string
	adminToken string
	masterKey  string // of the gateway; "" for none
}

func startCLIGateway(t *testing.T, withMasterKey bool) *cliGateway {
	t.Helper()
	_, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	dir := t.TempDir()
	yaml := strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", dir).Replace(cliConfig)
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &cliGateway{cfgPath: path, adminToken: "adm-" + rand.Text()}
	if withMasterKey {
		mk := make([]byte, 32)
		rand.Read(mk)
		g.masterKey = hex.EncodeToString(mk)
	}
	env := &Env{Getenv: func(k string) string {
		return map[string]string{"SIM_KEY": fakecloud.DefaultKey, "SWITCHYARD_ADMIN_TOKEN": g.adminToken,
			"SWITCHYARD_MASTER_KEY": g.masterKey}[k]
	}, Stdout: io.Discard, Stderr: io.Discard}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	g.inst, err = Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.inst.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	g.adminURL = "http://" + g.inst.AdminAddr()
	return g
}

// TestCLI runs the operator commands through Run, against a gateway's
// admin API (-admin) and against its store directly (-config), and checks
// what they print and what they stored.
func TestCLI(t *testing.T) {
	for _, tc := range []struct {
		name      string
		direct    bool // -config instead of -admin
		masterKey bool // the gateway (admin) or the CLI (config) has one
		noPair    string
	}{
		{"admin", false, true, ""},
		{"admin_without_master_key", false, false, "the gateway runs without SWITCHYARD_MASTER_KEY"},
		{"config", true, true, ""},
		{"config_without_master_key", true, false, "SWITCHYARD_MASTER_KEY is not set here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startCLIGateway(t, tc.masterKey && !tc.direct)
			ctx := context.Background()
			cliMaster := ""
			if tc.direct && tc.masterKey {
				mk := make([]byte, 32)
				rand.Read(mk)
				cliMaster = hex.EncodeToString(mk)
			}
			run := func(args ...string) (string, error) {
				t.Helper()
				if tc.direct {
					args = append(args, "-config", g.cfgPath)
				} else {
					args = append(args, "-admin", g.adminURL)
				}
				var out, errOut bytes.Buffer
				err := Run(ctx, args, func(k string) string {
					return map[string]string{"SWITCHYARD_ADMIN_TOKEN": g.adminToken, "SWITCHYARD_MASTER_KEY": cliMaster}[k]
				}, &out, &errOut)
				return out.String() + errOut.String(), err
			}
			must := func(args ...string) string {
				t.Helper()
				out, err := run(args...)
				if err != nil {
					t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			contains := func(what, out string, want ...string) {
				t.Helper()
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("%s: output lacks %q:\n%s", what, w, out)
					}
				}
			}

			// Tenants.
			out := must("tenants", "create", "acme", "-rpm", "600", "-tpm", "1000", "-budget-usd", "50", "-budget-period", "month")
			contains("tenants create", out, "tenant acme (ten_", "active, rpm 600, tpm 1000, streams 0, budget $50.00/month")
			must("tenants", "create", "globex")
			out = must("tenants", "list")
			if !regexp.MustCompile(`(?m)^ten_\S+\s+acme\s+active\s+600\s+1000\s+0\s+\$50\.00/month$`).MatchString(out) ||
				!regexp.MustCompile(`(?m)^ten_\S+\s+globex\s+active\s+0\s+0\s+0\s+none$`).MatchString(out) {
				t.Errorf("tenants list:\n%s", out)
			}
			out = must("tenants", "update", "acme", "-rpm", "700", "-budget-period", "day")
			contains("tenants update", out, "rpm 700, tpm 1000", "budget $50.00/day")
			contains("tenants disable", must("tenants", "disable", "globex"), "tenant globex", "disabled")
			out = must("tenants", "list")
			if !regexp.MustCompile(`(?m)^ten_\S+\s+globex\s+disabled\s`).MatchString(out) {
				t.Errorf("tenants list after disable:\n%s", out)
			}
			contains("tenants enable", must("tenants", "enable", "globex"), "tenant globex", "active")
			if _, err := run("tenants", "create"); err == nil {
				t.Error("tenants create without a name succeeded")
			}
			if out, err := run("tenants", "update", "ghost", "-rpm", "1"); err == nil {
				t.Errorf("tenants update of an unknown tenant succeeded: %s", out)
			}

			// Money keeps two significant digits below a cent; lists have
			// -json.
			out = must("tenants", "create", "tiny", "-budget-usd", "0.000001", "-budget-period", "day")
			contains("tenants create tiny", out, "budget $0.000001/day")
			var tl struct{ Data []admin.TenantView }
			if err := json.Unmarshal([]byte(must("tenants", "list", "-json")), &tl); err != nil || len(tl.Data) != 3 {
				t.Errorf("tenants list -json: %v %+v", err, tl)
			}
			// keys create makes a missing tenant, through the API as
			// through the store.
			out = must("keys", "create", "-tenant", "newco")
			if !regexp.MustCompile(`(?m)^tenant:\s+newco \(ten_\S+\)$`).MatchString(out) {
				t.Errorf("keys create for a new tenant:\n%s", out)
			}
			var kl struct{ Data []admin.KeyView }
			if err := json.Unmarshal([]byte(must("keys", "list", "-tenant", "newco", "-json")), &kl); err != nil || len(kl.Data) != 1 {
				t.Errorf("keys list -json: %v %+v", err, kl)
			}

			// Keys: create with every option.
			before := time.Now()
			out = must("keys", "create", "-tenant", "acme", "-name", "ci", "-rpm", "10", "-tpm", "100000",
				"-budget-usd", "5", "-budget-period", "day", "-expires", "720h", "-models", "gpt-*,claude-*",
				"-meta", "team=search,env=ci")
			secret, id := field(t, out, "api key:"), field(t, out, "key id:")
			if !strings.HasPrefix(secret, auth.KeyPrefix) || !strings.HasPrefix(id, "key_") {
				t.Fatalf("keys create:\n%s", out)
			}
			if tc.noPair == "" {
				contains("keys create", out, "aws access key id:     ASY", "aws secret access key: ")
			} else {
				contains("keys create", out, "aws key pair: none ("+tc.noPair)
			}
			k, err := g.inst.Store().KeyByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got := admin.ViewKey(k)
			if got.Name != "ci" || got.RPM != 10 || got.TPM != 100000 || got.BudgetUSD != 5 || got.BudgetPeriod != "day" ||
				got.ExpiresAt == nil || got.ExpiresAt.Before(before.Add(719*time.Hour)) || got.ExpiresAt.After(time.Now().Add(721*time.Hour)) {
				t.Errorf("stored key %+v", got)
			}
			if diff := cmp.Diff([]string{"gpt-*", "claude-*"}, got.AllowedModels); diff != "" {
				t.Errorf("allowed models (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"team": "search", "env": "ci"}, got.Metadata); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if (got.AWSAccessKeyID != "") != (tc.noPair == "") {
				t.Errorf("stored AWS access key id %q, want one only with a master key", got.AWSAccessKeyID)
			}
			if _, err := run("keys", "create"); err == nil {
				t.Error("keys create without -tenant succeeded")
			}

			// The key works, and its requests reach the usage report.
			const requests = 3
			for range requests {
				if status := chatStatus(t, "http://"+g.inst.Addr(), secret); status != 200 {
					t.Fatalf("request with the new key: %d", status)
				}
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := g.inst.ledger.Flush(fctx); err != nil {
				t.Fatal(err)
			}
			for _, by := range []string{"tenant", "key", "model", "provider"} {
				out := must("usage", "-by", by, "-since", "1h")
				contains("usage -by "+by, out, strings.ToUpper(by), "REQUESTS")
				if !regexp.MustCompile(`(?m)^\s*\S+(\s+\S+)?\s+3\s+0\s`).MatchString(out) {
					t.Errorf("usage -by %s lacks a row with %d requests:\n%s", by, requests, out)
				}
			}
			var rep admin.UsageReport
			if err := json.Unmarshal([]byte(must("usage", "-by", "model", "-json")), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Data) != 1 || rep.Data[0].Group != "gpt-4o-mini" || rep.Data[0].Requests != requests || rep.Data[0].CostUSD <= 0 {
				t.Errorf("usage -by model -json: %+v", rep)
			}
			if _, err := run("usage", "-by", "colour"); err == nil {
				t.Error("usage -by colour succeeded")
			}
			// Tenants and keys by name beside their IDs.
			out = must("usage", "-by", "tenant", "-since", "1h")
			if !regexp.MustCompile(`(?m)^\s*ten_\S+\s+acme\s+3\s+0\s`).MatchString(out) {
				t.Errorf("usage -by tenant lacks the tenant's name:\n%s", out)
			}
			out = must("usage", "-by", "key", "-since", "1h")
			if !regexp.MustCompile(`(?m)^\s*` + id + `\s+ci\s+3\s+0\s`).MatchString(out) {
				t.Errorf("usage -by key lacks the key's name:\n%s", out)
			}
			// The reports print tables, and JSON on request, never null.
			contains("usage -by contract", must("usage", "-by", "contract", "-since", "1h"), "CONTRACT", "REQUESTS", "no commitments configured")
			contains("usage -by commitment", must("usage", "-by", "commitment"), "no commitments configured")
			contains("usage -by compliance", must("usage", "-by", "compliance", "-since", "1h"), "3 requests checked, 0 violations")
			for _, by := range []string{"contract", "compliance", "commitment"} {
				out := must("usage", "-by", by, "-json")
				if strings.Contains(out, "null") || !json.Valid([]byte(out)) {
					t.Errorf("usage -by %s -json:\n%s", by, out)
				}
			}

			// The request log: each request listed, newest first, and one
			// shown whole.
			out = must("requests", "-tenant", "acme", "-model", "gpt-4o-mini", "-status", "200")
			contains("requests", out, "TIME", "CHANNEL", "openai-sim", "gpt-4o-mini")
			if n := len(regexp.MustCompile(`(?m)^\S+\s+req_\S+\s+ten_\S+\s+`+id+`\s+gpt-4o-mini\s+openai-sim\s+200\s+1\s`).FindAllString(out, -1)); n != requests {
				t.Errorf("requests lists %d rows of the key's requests, want %d:\n%s", n, requests, out)
			}
			var page admin.RequestPage
			if err := json.Unmarshal([]byte(must("requests", "-key", id, "-limit", "2", "-json")), &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Data) != 2 || page.NextCursor == "" || page.Data[0].Time.Before(page.Data[1].Time) {
				t.Fatalf("requests -limit 2 -json: %+v", page)
			}
			out = must("requests", "-key", id, "-cursor", page.NextCursor)
			if strings.Count(out, "req_") != 1 || strings.Contains(out, "more:") {
				t.Errorf("second page:\n%s", out)
			}
			out = must("requests", "show", page.Data[0].ID)
			contains("requests show", out, "id:             "+page.Data[0].ID, "channel:        openai-sim", "status:         200",
				"route:          strategy=", "candidate openai-sim", "attempt 1 openai-sim")
			if _, err := run("requests", "show", "req_nope"); err == nil {
				t.Error("requests show of an unknown ID succeeded")
			}
			if _, err := run("requests", "-status", "teapot"); err == nil {
				t.Error("requests -status teapot succeeded")
			}

			// List, rotate by ID, revoke by secret.
			out = must("keys", "list", "-tenant", "acme")
			if !regexp.MustCompile(`(?m)^` + id + `\s+ci\s+acme\s+ten_\S+\s+sk-sy-\S{4}…\s+\S+\s+never\s+active\s+env=ci,team=search\s+any$`).MatchString(out) {
				t.Errorf("keys list:\n%s", out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("keys list shows a secret:\n%s", out)
			}
			// Labels, allow-lists and last use: edited, filtered and shown.
			out = must("keys", "update", id, "-label", "tier=gold", "-label", "env=", "-allow-ip", "127.0.0.0/8,::1/128")
			contains("keys update", out, "key "+id, "team=search,tier=gold", "allowed IPs 127.0.0.0/8,::1/128")
			if _, err := run("keys", "update", id, "-allow-ip", "127.0.0.1/8"); err == nil {
				t.Error("keys update with a CIDR with host bits succeeded")
			}
			must("keys", "create", "-tenant", "acme", "-name", "other", "-label", "team=ads")
			out = must("keys", "list", "-label", "team=search")
			if !strings.Contains(out, id) || strings.Contains(out, "other") {
				t.Errorf("keys list -label team=search:\n%s", out)
			}
			if out := must("keys", "list", "-label", "team=search", "-label", "tier=silver"); strings.Contains(out, id) {
				t.Errorf("keys list with a label the key lacks lists it:\n%s", out)
			}
			if status := chatStatus(t, "http://"+g.inst.Addr(), secret); status != 200 {
				t.Fatalf("request from an allowed address: %d", status)
			}
			if err := g.inst.lastUsed.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			out = must("keys", "list", "-tenant", "acme")
			if !regexp.MustCompile(`(?m)^` + id + `\s.*\s\d{4}-\d\d-\d\dT\S+\s+\d{4}-\d\d-\d\dT\S+\s+active\s+team=search,tier=gold\s+127\.0\.0\.0/8,::1/128$`).MatchString(out) {
				t.Errorf("keys list lacks the key's last use, labels or allow-list:\n%s", out)
			}
			if !regexp.MustCompile(`(?m)^key_\S+\s+other\s.*\snever\s+active\s`).MatchString(out) {
				t.Errorf("keys list: an unused key is not shown as never used:\n%s", out)
			}

			// Rotate by ID with a grace window: the key keeps its ID and
			// settings, and both secrets work.
			out = must("keys", "rotate", id, "-grace", "1h")
			newSecret, newID := field(t, out, "api key:"), field(t, out, "key id:")
			if newSecret == secret || newID != id || !strings.HasPrefix(newSecret, auth.KeyPrefix) {
				t.Errorf("keys rotate:\n%s", out)
			}
			contains("keys rotate", out, "The old secret ("+secret[:10]+"…) keeps working until ")
			nk, err := g.inst.Store().KeyByID(ctx, newID)
			if err != nil {
				t.Fatal(err)
			}
			if nk.RPM != 10 || nk.BudgetUSD != 5 || nk.Metadata["team"] != "search" || len(nk.AllowedCIDRs) != 2 {
				t.Errorf("rotated key lost its settings: %+v", admin.ViewKey(nk))
			}
			for _, s := range []string{secret, newSecret} {
				if status := chatStatus(t, "http://"+g.inst.Addr(), s); status != 200 {
					t.Errorf("request in the grace window: %d", status)
				}
			}
			if out := must("keys", "list", "-tenant", "acme"); !regexp.MustCompile(`(?m)^` + id + `\s.*\srotating \(` + regexp.QuoteMeta(secret[:10]) + `… until `).MatchString(out) {
				t.Errorf("keys list does not show the rotation:\n%s", out)
			}
			if _, err := run("keys", "rotate", id, "-grace", "-1h"); err == nil {
				t.Error("keys rotate with a negative grace succeeded")
			}
			// Without grace the old secret stops at once.
			out = must("keys", "rotate", newSecret)
			contains("keys rotate without grace", out, "The old secret no longer works.")
			// Refused once the gateway's one-second key cache has let go of it.
			waitFor(t, 5*time.Second, func() bool { return chatStatus(t, "http://"+g.inst.Addr(), newSecret) == 401 })
			last := field(t, out, "api key:")
			contains("keys revoke", must("keys", "revoke", last), "revoked "+id)
			out = must("keys", "list", "-tenant", "acme")
			if !regexp.MustCompile(`(?m)^` + id + `\s.*\srevoked\s`).MatchString(out) {
				t.Errorf("keys list: %s not revoked:\n%s", id, out)
			}
			if _, err := run("keys", "revoke", "key_nope"); err == nil {
				t.Error("revoking an unknown key succeeded")
			}
			if _, err := run("keys", "rotate", id); err == nil {
				t.Error("rotating a revoked key succeeded")
			}
		})
	}
}

// field returns the value after label on its line of out.
func field(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, label); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in:\n%s", label, out)
	return ""
}

func chatStatus(t *testing.T, base, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
