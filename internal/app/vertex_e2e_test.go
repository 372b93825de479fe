package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"switchyard/internal/fakecloud"
)

// TestE2E_VertexChannel: a vertex channel configured with a
// service-account key file serves Gemini and Claude to an OpenAI client,
// its tokens bought from the key's token_uri and checked by the simulated
// Vertex against the account's public key.
func TestE2E_VertexChannel(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const account = "gateway@proj.iam.gserviceaccount.com"
	cloud, ln, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{ServiceAccounts: map[string]*rsa.PublicKey{account: &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	url := "http://" + ln.Addr().String()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": account,
		"token_uri": url + fakecloud.VertexTokenPath})
	keyPath := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(keyPath, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: vertex-eu, type: vertex, project: proj, location: europe-west4, base_url: `+url+`/vertex, credentials_file: `+keyPath+`}
models:
  - name: gemini-flash
    offerings: [{provider: vertex-eu, upstream_model: gemini-2.5-flash}]
  - name: claude-sonnet
    offerings: [{provider: vertex-eu, upstream_model: claude-sonnet-4-5@20250929}]
`)
	c := g.client()
	for _, model := range []string{"gemini-flash", "claude-sonnet"} {
		resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello Vertex")},
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if !strings.Contains(resp.Choices[0].Message.Content, "Hello Vertex") || resp.Usage.PromptTokens == 0 {
			t.Errorf("%s: %+v", model, resp)
		}
	}
	var paths []string
	for _, r := range cloud.Records() {
		paths = append(paths, r.Path)
	}
	want := []string{
		"/vertex/v1/projects/proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
		"/vertex/v1/projects/proj/locations/europe-west4/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("upstream paths %v, want %v", paths, want)
	}
}
