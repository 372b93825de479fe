package app

import (
	"bytes"
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

	"switchyard/internal/config"
	"switchyard/internal/usage"
)

// pricesConfig is a configuration with an offering of each price source:
// its own price, prices.file, the built-in catalogue, free, and none.
const pricesConfig = `
providers:
  - name: oai
    type: openai
  - name: vllm
    type: openai-compatible
    base_url: http://127.0.0.1:1/v1
  - name: claude-vertex
    type: vertex
    project: p
    location: europe-west1
    credentials_file: %k
prices:
  file: %s
models:
  - name: gpt-4o
    offerings:
      - provider: oai
        price: {input_per_mtok: 1, output_per_mtok: 4}
  - name: gpt-4o-mini
    offerings:
      - provider: oai
  - name: claude-sonnet-4-5
    offerings:
      - provider: claude-vertex
        upstream_model: claude-sonnet-4-5@20250929
  - name: llama-local
    offerings:
      - provider: vllm
        price: {free: true}
  - name: mystery
    offerings:
      - provider: vllm
        upstream_model: my-finetune
`

func writePricesConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cat := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(cat, []byte(`{"as_of":"2026-12-05","entries":[
		{"channels":["openai"],"model":"gpt-4o-mini","input_per_mtok":0.1,"output_per_mtok":0.5,"source":"negotiated rate card"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "switchyard.yaml")
	cfg := strings.NewReplacer("%s", cat, "%k", vertexKeyFile(t, dir)).Replace(pricesConfig)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// vertexKeyFile writes a service-account key file (a fresh RSA key, a
// token endpoint nobody calls) so the Vertex channel builds as serve
// would build it.
func vertexKeyFile(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "gateway@p.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:1/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vertex-key.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestPricesList: each offering's price and where it came from, with the
// offering's own price over prices.file over the built-in catalogue, and
// Vertex's regional rate for Claude.
func TestPricesList(t *testing.T) {
	out, err := runApp(t, "prices", "list", "-config", writePricesConfig(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cat := usage.BuiltinCatalogue()
	for _, want := range []string{
		"gpt-4o  ", "offering\n",
		"0.1  ", "prices.json (as of 2026-12-05, gpt-4o-mini)",
		"claude-sonnet-4-5@20250929", "3.3", "catalogue built-in (as of " + cat.AsOf + ", claude-sonnet-4-5)",
		"offering (free)",
		"my-finetune", "unpriced",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("prices list lacks %q:\n%s", want, out)
		}
	}
}

// TestValidate_WarnsUnpriced: an offering that would cost $0 is named,
// unless it says it is free.
func TestValidate_WarnsUnpriced(t *testing.T) {
	out, err := runApp(t, "validate", "-env-warn", "-config", writePricesConfig(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Count(out, "has no price") != 1 || !strings.Contains(out, `model "mystery" on provider "vllm" (upstream "my-finetune") has no price`) {
		t.Errorf("validate output:\n%s", out)
	}
}

// TestPricesUpdate: the community price map becomes a catalogue that
// prices.file loads and that prices a model by it.
func TestPricesUpdate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "catalogue.json")
	msg, err := runApp(t, "prices", "update", "-from", "../usage/testdata/litellm_prices.json", "-o", out, "-as-of", "2026-12-07")
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if !strings.Contains(msg, "4 models priced as of 2026-12-07 (3 skipped") {
		t.Errorf("update said: %s", msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f usage.CatalogueFile
	if err := json.Unmarshal(b, &f); err != nil || f.AsOf != "2026-12-07" {
		t.Fatalf("catalogue: %v %+v", err, f)
	}
	book, err := priceBook(&config.Config{Prices: config.Prices{File: out}})
	if err != nil {
		t.Fatal(err)
	}
	if p, src := book.Resolve(usage.Price{}, false, "bedrock", "eu-west-1", "anthropic.claude-3-haiku-20240307-v1:0"); src.Kind != "file" || p.InputPerMTok != 0.3 {
		t.Errorf("resolved %+v from %s", p, src)
	}
	if _, err := runApp(t, "prices", "update", "-from", out+".missing"); err == nil {
		t.Error("a missing price map was accepted")
	}
}
