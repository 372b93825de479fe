package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/alert"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
)

// demoConfig is the demo's switchyard.yaml; FAKECLOUD is replaced by the
// simulated clouds' base address and DB by the store path.
const demoConfig = `# Written by 'switchyard demo': every channel points at the simulated clouds.
listen: LISTEN
admin:
  listen: ADMIN
  token_env: DEMO_OPERATOR_TOKEN
store:
  driver: sqlite
  dsn: DB

# Every request of the demo tenant keeps its payload (redacted) in the
# request log: see 'switchyard requests show ID'.
log:
  payloads:
    rules:
      - {tenant: demo, sample_rate: 1}

# Alerts go to a webhook receiver the demo runs itself, which checks each
# one's Standard Webhooks signature and prints it: budget thresholds,
# commitments off pace, breakers opening, compliance violations, keys
# about to expire.
alerts:
  endpoints:
    - {name: demo-console, url: ALERTHOOK, secret_env: DEMO_ALERT_SECRET}
  check_interval: 2s

providers:
  - name: azure-eastus
    type: azure
    base_url: FAKECLOUD/azure
    api_key_env: DEMO_AZURE_API_KEY
    api_version: "2024-10-21"
    region: eastus
  - name: openai-direct
    type: openai
    base_url: FAKECLOUD/openai/v1
    api_key_env: DEMO_OPENAI_API_KEY
    region: us
  - name: aws-us-east-1
    type: bedrock
    base_url: FAKECLOUD/bedrock
    region: us-east-1
    access_key_id_env: DEMO_AWS_ACCESS_KEY_ID
    secret_access_key_env: DEMO_AWS_SECRET_ACCESS_KEY
  - name: anthropic-direct
    type: anthropic
    base_url: FAKECLOUD/anthropic
    api_key_env: DEMO_ANTHROPIC_API_KEY
    region: us
  - name: gemini-direct
    type: gemini
    base_url: FAKECLOUD/gemini
    api_key_env: DEMO_GEMINI_API_KEY
    region: us

models:
  - name: gpt-4o-mini
    offerings:
      - provider: azure-eastus
        upstream_model: gpt-4o-mini-prod
        price: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
      - provider: openai-direct
        upstream_model: gpt-4o-mini
        price: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
  - name: gpt-5
    aliases: ["openai.gpt-5-v1:0"]
    offerings:
      - provider: azure-eastus
        upstream_model: gpt-5-prod
        price: {input_per_mtok: 1.25, output_per_mtok: 10.00, cached_input_per_mtok: 0.125}
      - provider: aws-us-east-1
        upstream_model: openai.gpt-5-v1:0
        price: {input_per_mtok: 1.25, output_per_mtok: 10.00}
  - name: claude-sonnet-4
    aliases: ["anthropic.claude-sonnet-4-20250514-v1:0"]
    offerings:
      - provider: anthropic-direct
        upstream_model: claude-sonnet-4-20250514
        price: {input_per_mtok: 3.00, output_per_mtok: 15.00, cached_input_per_mtok: 0.30, cache_write_per_mtok: 3.75}
      - provider: aws-us-east-1
        upstream_model: anthropic.claude-sonnet-4-20250514-v1:0
        price: {input_per_mtok: 3.00, output_per_mtok: 15.00, cached_input_per_mtok: 0.30, cache_write_per_mtok: 3.75}
  - name: gemini-2.5-flash
    offerings:
      - provider: gemini-direct
        upstream_model: gemini-2.5-flash
        price: {input_per_mtok: 0.30, output_per_mtok: 2.50}
  - name: text-embedding-3-small
    offerings:
      - provider: openai-direct
        upstream_model: text-embedding-3-small
        price: {input_per_mtok: 0.02}
      - provider: azure-eastus
        upstream_model: text-embedding-3-small
        price: {input_per_mtok: 0.02}

contracts:
  # Stateless GPT-5 traffic (Chat Completions, Messages, Converse) stays on
  # Azure; stateful agents (Responses with stored state) run on Bedrock.
  - name: stateless-gpt5-on-azure
    match: {models: ["gpt-5"], traffic: stateless}
    allow: {provider_types: [azure]}
  - name: stateful-gpt5-on-bedrock
    match: {models: ["gpt-5"], traffic: stateful}
    allow: {provider_types: [bedrock]}
  # The spend committed to AWS is burnt down evenly over the month: while
  # behind the pacing line, Claude goes to Bedrock first.
  - name: aws-commitment
    commitment: {provider: aws-us-east-1, amount_usd: 5000, period: month, pacing: even}
`

// demoInfo is written to DIR/demo.json for scripts.
type demoInfo struct {
	Listen      string   `json:"listen"`
	AdminListen string   `json:"admin_listen"`
	APIKey      string   `json:"api_key"`
	Models      []string `json:"models"`
	Config      string   `json:"config"`
	Fakecloud   string   `json:"fakecloud"`
	// AWSAccessKeyID and AWSSecretAccessKey sign Bedrock SDK requests
	// (SigV4) for the same demo key.
	AWSAccessKeyID     string `json:"aws_access_key_id"`
	AWSSecretAccessKey string `json:"aws_secret_access_key"`
	// AdminToken authenticates the admin API and the CLI's -admin mode.
	AdminToken string `json:"admin_token"`
}

func runDemo(ctx context.Context, env *Env, args []string) (err error) {
	fs := newFlags("demo", env)
	listen := fs.String("listen", "127.0.0.1:8080", "client-facing address")
	adminListen := fs.String("admin-listen", "127.0.0.1:8081", "admin address")
	dataDir := fs.String("data", "", "directory for the demo's store and demo.json (default: a temporary directory, removed on exit)")
	fixedKey := fs.String("key", "", "use this demo API key (sk-sy-...) instead of a random one")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *fixedKey != "" && !strings.HasPrefix(*fixedKey, "sk-sy-") {
		return errors.New("-key must start with sk-sy-")
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "switchyard-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	fc, fcLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{})
	if err != nil {
		return fmt.Errorf("starting simulated clouds: %w", err)
	}
	_ = fc
	defer fcLn.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (use -listen to pick another address)", *listen, err)
	}
	adminLn, err := net.Listen("tcp", *adminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on %s: %w (use -admin-listen to pick another address)", *adminListen, err)
	}

	// The alerts' receiver prints to the same output as the banner.
	out := &lockedWriter{w: env.Stdout}
	env = &Env{Getenv: env.Getenv, Stdout: out, Stderr: env.Stderr}
	alertSecret := make([]byte, 32)
	_, _ = rand.Read(alertSecret)
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the alerts receiver: %w", err)
	}
	hook := &http.Server{Handler: demoAlertHook(out, alertSecret), ReadHeaderTimeout: 5 * time.Second}
	go hook.Serve(hookLn)
	defer hook.Close()

	yaml := strings.NewReplacer(
		"ALERTHOOK", "http://"+hookLn.Addr().String()+"/alerts",
		"FAKECLOUD", "http://"+fcLn.Addr().String(),
		"LISTEN", ln.Addr().String(), "ADMIN", adminLn.Addr().String(),
		"DB", filepath.Join(dir, "switchyard.db"),
	).Replace(demoConfig)
	cfgPath := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	masterKey, err := demoMasterKey(dir, env.Getenv)
	if err != nil {
		return err
	}
	adminToken := env.Getenv("SWITCHYARD_ADMIN_TOKEN")
	if adminToken == "" {
		adminToken = "sy-admin-" + randomToken()
	}
	demoEnv := *env
	demoEnv.Getenv = func(k string) string {
		switch k {
		case "SWITCHYARD_MASTER_KEY":
			return masterKey
		case "DEMO_OPERATOR_TOKEN":
			return adminToken
		case "DEMO_AZURE_API_KEY", "DEMO_OPENAI_API_KEY", "DEMO_ANTHROPIC_API_KEY", "DEMO_GEMINI_API_KEY":
			return fakecloud.DefaultKey
		case "DEMO_AWS_ACCESS_KEY_ID":
			return fakecloud.DefaultAWSAccessKeyID
		case "DEMO_AWS_SECRET_ACCESS_KEY":
			return fakecloud.DefaultAWSSecretAccessKey
		case "DEMO_ALERT_SECRET":
			return "whsec_" + base64.StdEncoding.EncodeToString(alertSecret)
		}
		return env.Getenv(k)
	}
	inst, err := Start(ctx, cfg, &demoEnv, StartOptions{Listener: ln, AdminListener: adminLn})
	if err != nil {
		ln.Close()
		adminLn.Close()
		return err
	}
	defer func() {
		if serr := inst.Shutdown(); err == nil {
			err = serr
		}
	}()

	iss, err := ensureDemoKey(ctx, inst, *fixedKey)
	if err != nil {
		return err
	}
	if err := ensureExpiringKey(ctx, inst); err != nil {
		return err
	}
	secret := iss.Secret
	info := demoInfo{Listen: inst.Addr(), AdminListen: inst.AdminAddr(), APIKey: secret, Config: cfgPath,
		Fakecloud: "http://" + fcLn.Addr().String(), AWSAccessKeyID: iss.AWSAccessKeyID, AWSSecretAccessKey: iss.AWSSecretAccessKey,
		AdminToken: adminToken}
	for _, m := range cfg.Models {
		info.Models = append(info.Models, m.Name)
		info.Models = append(info.Models, m.Aliases...)
	}
	fmt.Fprintf(env.Stdout, `Switchyard demo is running on simulated clouds (no network needed).

  gateway   http://%[1]s   (OpenAI base URL: http://%[1]s/v1; Anthropic, Gemini and Bedrock SDKs: http://%[1]s)
  admin     http://%[2]s   (metrics: /metrics; token %[8]s)
  console   http://%[2]s/ui/   (sign in with the admin token)
  api key   %[3]s
  aws keys  %[6]s / %[7]s   (SigV4 for Bedrock SDKs, region us-east-1)
  models    %[4]s
  config    %[5]s

Try it:

  curl -s http://%[1]s/v1/chat/completions \
    -H "Authorization: Bearer %[3]s" -H "Content-Type: application/json" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello from the demo"}]}'

  curl -s http://%[1]s/v1beta/models/claude-sonnet-4:generateContent \
    -H "x-goog-api-key: %[3]s" -H "Content-Type: application/json" \
    -d '{"contents":[{"role":"user","parts":[{"text":"Hello from a Gemini client"}]}]}'

  %[9]s route explain -config %[5]s -model gpt-5 -traffic stateful
  SWITCHYARD_ADMIN_TOKEN=%[8]s %[9]s usage -admin http://%[2]s -by contract -since 1h
  SWITCHYARD_ADMIN_TOKEN=%[8]s %[9]s requests -admin http://%[2]s -since 1h

Alerts (webhooks) are printed below as they arrive: the demo tenant's key
"rotate-me" expires in three days, so a key_expiring alert comes first.

Press Ctrl-C to stop.
`, info.Listen, info.AdminListen, secret, strings.Join(info.Models, ", "), cfgPath, info.AWSAccessKeyID, info.AWSSecretAccessKey,
		adminToken, selfCommand())
	// demo.json comes last: a script that waits for it finds the banner
	// already printed.
	js, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "demo.json"), append(js, '\n'), 0o600); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(env.Stdout, "\nstopping...")
	return nil
}

// ensureDemoKey makes the demo tenant and its key: the fixed one when
// given (reused if a kept data directory already holds it, its AWS secret
// opened again with the kept master key), else a new one.
func ensureDemoKey(ctx context.Context, inst *Instance, fixed string) (*admin.Issued, error) {
	if fixed == "" {
		return inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: "demo", CreateTenant: true, Name: "demo"})
	}
	iss, err := inst.admin.IssueFixedKey(ctx, "demo", fixed)
	if err != nil {
		return nil, err
	}
	if iss.AWSSecretAccessKey == "" && len(iss.Key.AWSSecretSealed) > 0 && inst.admin.Sealer != nil {
		if plain, err := inst.admin.Sealer.Open(iss.Key.AWSSecretSealed); err == nil {
			iss.AWSAccessKeyID, iss.AWSSecretAccessKey = iss.Key.AWSAccessKeyID, string(plain)
		}
	}
	return iss, nil
}

// ensureExpiringKey gives the demo tenant a key named rotate-me that
// expires in three days, unless one that has not expired is there (a kept
// data directory), so that the demo raises a key_expiring alert.
func ensureExpiringKey(ctx context.Context, inst *Instance) error {
	t, err := inst.admin.Tenant(ctx, "demo")
	if err != nil {
		return err
	}
	keys, err := inst.store.ListKeys(ctx, t.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, k := range keys {
		if k.Name == "rotate-me" && !k.Expired(now) && !k.Revoked(now) {
			return nil
		}
	}
	exp := now.Add(72 * time.Hour)
	_, err = inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: "demo", Name: "rotate-me", ExpiresAt: &exp})
	return err
}

// demoAlertHook is the demo's webhook receiver: it checks each alert's
// Standard Webhooks signature under secret and prints the alert to out.
func demoAlertHook(out io.Writer, secret []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		want := alert.Sign(secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), body)
		if err != nil || !hmac.Equal([]byte(want), []byte(r.Header.Get("webhook-signature"))) {
			fmt.Fprintf(out, "alert receiver: refused a delivery with a bad signature\n")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Type string `json:"type"`
			Data struct {
				Summary string `json:"summary"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(out, "alert  %-20s %s  (webhook %s, signature ok)\n", p.Type, p.Data.Summary, r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	})
}

// lockedWriter serializes writes to w: the banner and the alert receiver
// share the demo's output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// demoMasterKey returns SWITCHYARD_MASTER_KEY when set, else the demo's
// own key kept in DIR/master.key (made on first run), so that a kept data
// directory can open the secrets it sealed.
func demoMasterKey(dir string, getenv func(string) string) (string, error) {
	if mk := getenv("SWITCHYARD_MASTER_KEY"); mk != "" {
		return mk, nil
	}
	path := filepath.Join(dir, "master.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	mk := base64.StdEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(mk+"\n"), 0o600); err != nil {
		return "", err
	}
	return mk, nil
}

// randomToken returns 24 random bytes, URL-safe base64 encoded.
func randomToken() string {
	var raw [24]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(raw[:])
}
