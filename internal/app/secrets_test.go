package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/syncbuf"
)

const secretsConfig = `
listen: 127.0.0.1:0
admin: {token_env: SY_ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SY_PROVIDER_KEY}
  - {name: anthropic-sim, type: anthropic, base_url: FAKECLOUD/anthropic, api_key_env: SY_PROVIDER_KEY}
  - {name: bedrock-sim, type: bedrock, base_url: FAKECLOUD/bedrock, region: us-east-1, access_key_id_env: SY_AWS_ID, secret_access_key_env: SY_AWS_SECRET}
models:
  - name: gpt-4o-mini
    offerings: [{provider: openai-sim, price: {input_per_mtok: 1, output_per_mtok: 2}}]
  - name: claude-sonnet-4
    offerings: [{provider: anthropic-sim, upstream_model: claude-sonnet-4-20250514, price: {input_per_mtok: 3, output_per_mtok: 15}}]
  - name: nova-lite
    offerings: [{provider: bedrock-sim, upstream_model: amazon.nova-lite-v1:0, price: {input_per_mtok: 0.06, output_per_mtok: 0.24}}]
`

// TestSecretsNeverLeak runs a whole gateway with every kind of secret set
// (master key, admin token, provider key, provider AWS credentials, virtual
// keys and their AWS pairs made through the admin API), uses them through
// the OpenAI, Anthropic and Bedrock SigV4 clients, revokes a key by its
// secret, provokes refusals and an admin 500, and then searches every log
// line and every admin response for every one of those secrets.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	providerKey := "pk-" + rand.Text()
	awsID := "AKIA" + rand.Text()[:16]
	awsSecret := rand.Text() + rand.Text()[:14]
	adminToken := "adm-" + rand.Text()
	mk := make([]byte, 32)
	rand.Read(mk)
	masterKey := hex.EncodeToString(mk)

	_, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1, Key: providerKey,
		AWSAccessKeyID: awsID, AWSSecretAccessKey: awsSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	yaml := strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", t.TempDir()).Replace(secretsConfig)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SY_ADMIN_TOKEN": adminToken, "SY_PROVIDER_KEY": providerKey, "SY_AWS_ID": awsID,
		"SY_AWS_SECRET": awsSecret, "SWITCHYARD_MASTER_KEY": masterKey}
	getenv := func(k string) string { return vars[k] }
	logs := &syncbuf.Buffer{}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	inst, err := Start(ctx, cfg, &Env{Getenv: getenv, Stdout: io.Discard, Stderr: logs},
		StartOptions{Listener: ln, AdminListener: adminLn, LogLevel: slog.LevelDebug})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			inst.Shutdown()
		}
	})
	base, adminBase := "http://"+inst.Addr(), "http://"+inst.AdminAddr()

	// Every admin response, and whether it is one that issues a key (and
	// so carries that key's own secrets, once).
	type adminResponse struct {
		what, body string
		issued     *admin.IssuedView
	}
	var responses []adminResponse
	adminCall := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, adminBase+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("%s %s: %d %s, want %d", method, path[:min(len(path), 20)], resp.StatusCode, b, want)
		}
		r := adminResponse{what: method + " " + path, body: string(b)}
		var iss admin.IssuedView
		if json.Unmarshal(b, &iss) == nil && iss.Secret != "" {
			r.issued = &iss
		}
		responses = append(responses, r)
		return b
	}
	issue := func(name string) admin.IssuedView {
		var iss admin.IssuedView
		if err := json.Unmarshal(adminCall("POST", "/admin/v1/keys", `{"tenant":"acme","name":"`+name+`"}`, 201), &iss); err != nil {
			t.Fatal(err)
		}
		if iss.AWSSecretAccessKey == "" {
			t.Fatalf("key %s issued without an AWS pair although a master key is set", name)
		}
		return iss
	}
	adminCall("POST", "/admin/v1/tenants", `{"name":"acme","rpm":1000}`, 201)
	k1, k2, k3 := issue("main"), issue("revoked-by-cli"), issue("revoked-by-path")

	// Use k1 through the three dialects.
	oc := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(k1.Secret), option.WithMaxRetries(0))
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}); err != nil {
		t.Fatalf("openai: %v", err)
	}
	s := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream")}})
	for s.Next() {
	}
	if s.Err() != nil {
		t.Fatalf("openai stream: %v", s.Err())
	}
	ac := anthropic.NewClient(anthropicoption.WithBaseURL(base), anthropicoption.WithAPIKey(k1.Secret), anthropicoption.WithMaxRetries(0))
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}); err != nil {
		t.Fatalf("anthropic: %v", err)
	}
	bedrock := func(akid, secret string) *bedrockruntime.Client {
		return bedrockruntime.NewFromConfig(aws.Config{Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
			Retryer:     func() aws.Retryer { return aws.NopRetryer{} }},
			func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(base) })
	}
	converse := func(c *bedrockruntime.Client) error {
		_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("nova-lite"),
			Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello"}}}}})
		return err
	}
	if err := converse(bedrock(k1.AWSAccessKeyID, k1.AWSSecretAccessKey)); err != nil {
		t.Fatalf("bedrock sigv4: %v", err)
	}

	// Revoke k2 by its secret through the CLI, k3 through a path.
	var cliOut bytes.Buffer
	if err := Run(ctx, []string{"keys", "revoke", k2.Secret, "-admin", adminBase},
		func(k string) string { return map[string]string{"SWITCHYARD_ADMIN_TOKEN": adminToken}[k] }, &cliOut, &cliOut); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, cliOut.String())
	}
	adminCall("POST", "/admin/v1/keys/"+k3.Secret+"/revoke", "", 200)
	adminCall("GET", "/admin/v1/keys", "", 200)
	adminCall("GET", "/admin/v1/keys/"+k1.Secret, "", 200)
	adminCall("GET", "/admin/v1/nothing/"+k1.Secret, "", 404)
	adminCall("GET", "/admin/v1/usage?by=key", "", 200)

	// Refusals: a wrong key, revoked keys, a bad signature, a secret in a
	// client path.
	refused := func(what string, err error, status int) {
		t.Helper()
		var oe *openai.Error
		if err == nil {
			t.Errorf("%s: accepted", what)
		} else if errors.As(err, &oe) && oe.StatusCode != status {
			t.Errorf("%s: %d, want %d", what, oe.StatusCode, status)
		}
	}
	chatWith := func(key string) error {
		c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}
	wrong := "sk-sy-" + rand.Text() + rand.Text()[:17]
	refused("wrong key", chatWith(wrong), 401)
	time.Sleep(1100 * time.Millisecond) // past the key cache, so revocations are seen
	refused("key revoked by the CLI", chatWith(k2.Secret), 401)
	refused("key revoked by path", chatWith(k3.Secret), 401)
	if err := converse(bedrock(k1.AWSAccessKeyID, awsSecret)); err == nil {
		t.Error("bedrock with a wrong signing secret: accepted")
	}
	if err := converse(bedrock(k2.AWSAccessKeyID, k2.AWSSecretAccessKey)); err == nil {
		t.Error("bedrock with a revoked key's pair: accepted")
	}
	req, _ := http.NewRequest("GET", base+"/v1/responses/"+k1.Secret, nil)
	req.Header.Set("Authorization", "Bearer "+k1.Secret)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	// An admin 500 naming a key by its secret: the store is gone.
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := inst.ledger.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	inst.Store().Close()
	adminCall("GET", "/admin/v1/keys/"+k1.Secret, "", 500)
	adminCall("POST", "/admin/v1/keys/revoke", `{"key":"`+k1.Secret+`"}`, 500)
	stopped = true
	_ = inst.Shutdown() // closing the closed store again may complain; the logs are what matter

	secrets := map[string]string{
		"provider key": providerKey, "provider AWS secret access key": awsSecret, "admin token": adminToken,
		"master key": masterKey, "wrong client key": wrong,
	}
	for _, k := range []admin.IssuedView{k1, k2, k3} {
		secrets["virtual key "+k.Key.Name] = k.Secret
		secrets["virtual key "+k.Key.Name+" (random part)"] = k.Secret[10:]
		secrets["AWS secret access key of "+k.Key.Name] = k.AWSSecretAccessKey
	}
	out := logs.String()
	if !strings.Contains(out, "admin request failed") || !strings.Contains(out, `"path":"/v1/responses/`+k1.Secret[:10]+"…") {
		t.Errorf("the logs lack the admin failure or the redacted client path:\n%s", out)
	}
	for name, secret := range secrets {
		for i, line := range strings.Split(out, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("log line %d contains the %s: %s", i, name, line)
			}
		}
		for _, r := range responses {
			if r.issued != nil && (secret == r.issued.Secret || secret == r.issued.Secret[10:] || secret == r.issued.AWSSecretAccessKey) {
				continue // the one response that shows a key's own secrets
			}
			if strings.Contains(r.body, secret) {
				t.Errorf("admin response to %s contains the %s: %s", auth.RedactKeys(r.what), name, r.body)
			}
		}
		if strings.Contains(cliOut.String(), secret) {
			t.Errorf("CLI output of keys revoke contains the %s: %s", name, cliOut.String())
		}
	}
}
