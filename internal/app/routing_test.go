package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/syncbuf"
)

const contractConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY, region: eastus}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY, region: us}
  - {name: bedrock-eu, type: bedrock, base_url: FAKECLOUD/bedrock, region: eu-west-1, access_key_id_env: SIM_AWS_ID, secret_access_key_env: SIM_AWS_SECRET}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini}
      - {provider: azure-sim, upstream_model: mini-deployment}
      - {provider: bedrock-eu, upstream_model: openai.gpt-4o-mini-v1:0}
contracts:
  - name: stateless-on-azure
    match: {models: ["gpt-*"], traffic: stateless}
    allow: {provider_types: [azure]}
  - name: eu-data-stays-in-eu
    match: {tenants: [acme-eu]}
    allow: {regions: ["eu-*"]}
`

// startFromFile runs a gateway from a config file on disk, so it can be
// reloaded.
func startFromFile(t *testing.T, yaml string) (*testGateway, string, func(string)) {
	t.Helper()
	cloud, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	dir := t.TempDir()
	render := func(y string) string {
		return strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", dir).Replace(y)
	}
	path := filepath.Join(dir, "switchyard.yaml")
	write := func(y string) {
		if err := os.WriteFile(path, []byte(render(y)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(yaml)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	env := &Env{Getenv: func(k string) string {
		return map[string]string{"SIM_KEY": fakecloud.DefaultKey, "SIM_AWS_ID": fakecloud.DefaultAWSAccessKeyID,
			"SIM_AWS_SECRET": fakecloud.DefaultAWSSecretAccessKey, "ADMIN_TOKEN": "admin-secret"}[k]
	}, Stdout: io.Discard, Stderr: logs}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	inst, err := Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown() })
	g := &testGateway{inst: inst, logs: logs, cloud: cloud, base: "http://" + inst.Addr()}
	for _, tenant := range []string{"acme", "acme-eu"} {
		iss, err := inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: tenant, CreateTenant: true})
		if err != nil {
			t.Fatal(err)
		}
		if tenant == "acme" {
			g.key = iss.Secret
		} else {
			g.euKey = iss.Secret
		}
	}
	return g, path, write
}

func adminCall(t *testing.T, g *testGateway, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.inst.AdminAddr()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestContracts_ExclusivityAndResidency(t *testing.T) {
	g, _, _ := startFromFile(t, contractConfig)
	ctx := context.Background()
	c, eu := g.client(), g.client(option.WithAPIKey(g.euKey))
	var raw *http.Response
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	// Priority lists openai-sim first, but stateless GPT traffic may only
	// run on Azure.
	if _, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get("X-Switchyard-Provider"); got != "azure-sim" {
		t.Errorf("served by %q, want azure-sim", got)
	}
	if r := raw.Header.Get("X-Switchyard-Route"); !strings.Contains(r, "stateless-on-azure") {
		t.Errorf("route header %q does not name the contract", r)
	}
	// When Azure fails, the request is refused rather than served outside
	// the contract.
	g.cloud.SetFaults("azure", fakecloud.Faults{FailRate: 1, FailStatus: 503})
	_, err := c.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode < 500 {
		t.Fatalf("azure down: %v", err)
	}
	for _, r := range g.cloud.Records() {
		if r.Cloud != "azure" {
			t.Errorf("request reached %s, outside the contract", r.Cloud)
		}
	}
	// The EU tenant's stateless GPT traffic must be on Azure AND in the EU:
	// no channel satisfies both, and the error names the contracts.
	g.cloud.SetFaults("", fakecloud.Faults{})
	_, err = eu.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(apiErr.Message, "eu-data-stays-in-eu") {
		t.Errorf("EU tenant: %v", err)
	}
}

func TestRouteExplain(t *testing.T) {
	g, path, _ := startFromFile(t, contractConfig)
	status, body := adminCall(t, g, "POST", "/admin/v1/route/explain", `{"model":"gpt-4o-mini","tenant":"acme","traffic":"stateless"}`)
	var ex Explanation
	if status != 200 || json.Unmarshal([]byte(body), &ex) != nil || ex.Decision == nil {
		t.Fatalf("admin explain: %d %s", status, body)
	}
	if len(ex.Decision.Order) != 1 || ex.Decision.Order[0].Provider != "azure-sim" || len(ex.Decision.Candidates) != 3 {
		t.Errorf("decision %+v", ex.Decision)
	}
	for _, c := range ex.Decision.Candidates {
		if c.Provider != "azure-sim" && !strings.Contains(strings.Join(c.Contracts, ",")+c.Removed, "stateless-on-azure") {
			t.Errorf("candidate %s removed without naming the contract: %+v", c.Provider, c)
		}
	}
	// The CLI prints the same decision from the file alone.
	var out bytes.Buffer
	err := Run(context.Background(), []string{"route", "explain", "-config", path, "-model", "gpt-4o-mini", "-tenant", "acme"},
		func(string) string { return "" }, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var cli Explanation
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil || cli.Decision.Order[0].Provider != "azure-sim" {
		t.Errorf("cli explain: %v %s", err, out.String())
	}
	// A refusal is explained too, and the command fails.
	out.Reset()
	err = Run(context.Background(), []string{"route", "explain", "-config", path, "-model", "gpt-4o-mini", "-tenant", "acme-eu"},
		func(string) string { return "" }, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "eu-data-stays-in-eu") {
		t.Errorf("refusal: %v %s", err, out.String())
	}
}

func TestReload(t *testing.T) {
	g, _, write := startFromFile(t, contractConfig)
	ctx := context.Background()
	c := g.client()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini-2", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	if _, err := c.Chat.Completions.New(ctx, params); err == nil {
		t.Fatal("model exists before the reload")
	}
	// An invalid file is refused with its errors; the old config stays.
	write(contractConfig + "\n  - name: broken\n")
	status, body := adminCall(t, g, "POST", "/admin/v1/reload", "")
	if status != 422 || !strings.Contains(body, "contracts[2]") {
		t.Errorf("invalid reload: %d %s", status, body)
	}
	// A restart-only change is refused too.
	write(strings.Replace(contractConfig, "store: {driver: sqlite, dsn: DIR/test.db}", "store: {driver: sqlite, dsn: DIR/other.db}", 1))
	if status, body := adminCall(t, g, "POST", "/admin/v1/reload", ""); status != 422 || !strings.Contains(body, "restart") {
		t.Errorf("store change: %d %s", status, body)
	}
	// A stream in flight survives a valid reload.
	g.cloud.SetFaults("", fakecloud.Faults{TokensPerSecond: 50})
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five six seven eight nine ten")}})
	if !stream.Next() {
		t.Fatal(stream.Err())
	}
	write(strings.Replace(contractConfig, "contracts:", `  - name: gpt-4o-mini-2
    offerings: [{provider: azure-sim, upstream_model: mini-2}]
contracts:`, 1))
	if status, body := adminCall(t, g, "POST", "/admin/v1/reload", ""); status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	chunks := 1
	for stream.Next() {
		chunks++
	}
	if err := stream.Err(); err != nil || chunks < 5 {
		t.Errorf("stream across reload: %d chunks, %v", chunks, err)
	}
	g.cloud.SetFaults("", fakecloud.Faults{})
	if _, err := c.Chat.Completions.New(ctx, params); err != nil {
		t.Errorf("new model after reload: %v", err)
	}
}

const commitmentConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY, region: eastus}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY, region: us}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-sim, upstream_model: mini-deployment, price: {input_per_mtok: 1000, output_per_mtok: 1000}}
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1000, output_per_mtok: 1000}}
contracts:
  - name: openai-commitment
    commitment: {provider: openai-sim, amount_usd: 0.0001, period: year}
`

func TestCommitmentAndReports(t *testing.T) {
	g, path, _ := startFromFile(t, commitmentConfig)
	c := g.client()
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	served := func() (string, string) {
		var raw *http.Response
		if _, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw)); err != nil {
			t.Fatal(err)
		}
		return raw.Header.Get("X-Switchyard-Provider"), raw.Header.Get("X-Switchyard-Route")
	}
	// Behind the pacing line (nothing spent yet): the committed channel
	// goes first although priority lists Azure first.
	if p, r := served(); p != "openai-sim" || !strings.Contains(r, "openai-commitment") {
		t.Fatalf("first request on %q (%s), want the committed channel", p, r)
	}
	// One request costs more than the whole (tiny) commitment: ahead of
	// the line, the channel is no longer preferred.
	if p, _ := served(); p != "azure-sim" {
		t.Errorf("second request on %q, want azure-sim once ahead of the pacing line", p)
	}
	status, body := adminCall(t, g, "GET", "/admin/v1/usage?by=commitment", "")
	if status != 200 || !strings.Contains(body, `"behind": false`) || !strings.Contains(body, "openai-commitment") {
		t.Errorf("commitment report: %d %s", status, body)
	}
	// Let the ledger writer flush, then read the reports.
	waitFor(t, 5*time.Second, func() bool {
		_, body := adminCall(t, g, "GET", "/admin/v1/usage?by=provider", "")
		return strings.Contains(body, "openai-sim") && strings.Contains(body, "azure-sim")
	})
	status, body = adminCall(t, g, "GET", "/admin/v1/usage?by=compliance", "")
	var comp ComplianceReport
	if status != 200 || json.Unmarshal([]byte(body), &comp) != nil || comp.Checked != 2 || len(comp.Violations) != 0 {
		t.Errorf("compliance report: %d %s", status, body)
	}
	status, body = adminCall(t, g, "GET", "/admin/v1/usage?by=contract", "")
	if status != 200 || !strings.Contains(body, "openai-commitment") {
		t.Errorf("contract report: %d %s", status, body)
	}
	// A restarted gateway seeds the commitment from the ledger: still ahead.
	if err := g.inst.Shutdown(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(ctx, []string{"usage", "-config", path, "-by", "commitment"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^openai-commitment\s+openai-sim\s.*\son pace\s`).MatchString(out.String()) {
		t.Errorf("after restart, commitment report %s", out.String())
	}
}
