package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `switchyard import litellm -f F -o O` writes a config that `switchyard
// validate` accepts, and without -o prints it; a missing -f or another
// source is a usage error.
func TestImportLiteLLM(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(in, []byte(`
model_list:
  - model_name: gpt-4o
    litellm_params: {model: azure/gpt-4o, api_base: "https://acme.openai.azure.com/", api_key: os.environ/AZURE_API_KEY, api_version: "2024-10-21"}
  - model_name: claude
    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: us-west-2}
router_settings: {num_retries: 2}
general_settings: {master_key: sk-1234}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	if _, stderr, err := run("import", "litellm", "-f", in, "-o", out); err != nil || !strings.Contains(stderr, "2 providers, 2 models") {
		t.Fatalf("import: %v %s", err, stderr)
	}
	if stdout, _, err := run("validate", "-env-warn", "-config", out); err != nil || !strings.Contains(stdout, "ok") {
		t.Fatalf("validate: %v %s", err, stdout)
	}
	written, _ := os.ReadFile(out)
	printed, _, err := run("import", "litellm", "-f", in)
	if err != nil || printed != string(written) {
		t.Fatalf("without -o: %v, printed the same as written: %v", err, printed == string(written))
	}
	if !strings.Contains(printed, "router_settings.num_retries") || strings.Contains(printed, "sk-1234") {
		t.Errorf("output:\n%s", printed)
	}
	for _, args := range [][]string{{"import"}, {"import", "helicone"}, {"import", "litellm"}, {"import", "litellm", "-f", filepath.Join(dir, "missing.yaml")}} {
		if _, _, err := run(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
