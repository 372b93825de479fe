package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Each LiteLLM config in testdata/litellm, written in the shapes LiteLLM
// documents, converts to its golden switchyard.yaml (rewritten with
// -update), which Switchyard's own loader accepts, and no secret written
// in the LiteLLM file reaches the output.
func TestFromLiteLLM_Golden(t *testing.T) {
	files, _ := filepath.Glob("testdata/litellm/*.litellm.yaml")
	if len(files) == 0 {
		t.Fatal("no LiteLLM configs")
	}
	secrets := []string{"sk-1234", "sk-proj-literal-secret", "dbpassword9090", "pk-lf-example"}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := FromLiteLLM(in)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(f, ".litellm.yaml") + ".switchyard.yaml"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", golden, out)
			}
			if _, err := Parse(out); err != nil {
				t.Errorf("the output does not load: %v\n%s", err, out)
			}
			for _, s := range secrets {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("secret %q from the LiteLLM file is in the output", s)
				}
			}
		})
	}
}

// What the multi-cloud example carries, read back through the loader:
// channels by family with their credentials by environment variable,
// prices per million tokens, the strategy, fallbacks, aliases and
// timeouts; and the comments name what it could not carry.
func TestFromLiteLLM_MultiCloud(t *testing.T) {
	in, err := os.ReadFile("testdata/litellm/multicloud.litellm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := FromLiteLLM(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	br := c.ProviderByName("bedrock-eu-central-1")
	if br == nil || br.Type != TypeBedrock || br.Region != "eu-central-1" || br.AccessKeyIDEnv != "AWS_ACCESS_KEY_ID" {
		t.Errorf("bedrock channel %+v", br)
	}
	if az := c.ProviderByName("azure-contoso"); az == nil || az.Auth != AuthEntra || az.APIKeyEnv != "" || az.APIVersion != "2024-08-01-preview" {
		t.Errorf("azure channel %+v", az)
	}
	oa := c.ProviderByName("openai")
	if oa == nil || oa.APIKeyEnv != "OPENAI_API_KEY" || oa.Timeout.Std().Seconds() != 30 {
		t.Errorf("openai channel %+v", oa)
	}
	if g := c.ProviderByName("gemini"); g == nil || g.Timeout.Std().Seconds() != 45 {
		t.Errorf("gemini channel %+v: want router_settings.timeout", g)
	}
	models := map[string]Model{}
	for _, m := range c.Models {
		models[m.Name] = m
	}
	sonnet := models["claude-sonnet"]
	if sonnet.Route.Strategy != StrategyLeastLatency || len(sonnet.Offerings) != 2 || sonnet.Offerings[0].Price.InputPerMTok != 3 ||
		sonnet.Offerings[0].Price.OutputPerMTok != 15 || sonnet.Offerings[1].Weight != 2 || len(sonnet.Aliases) != 1 || sonnet.Aliases[0] != "sonnet" {
		t.Errorf("claude-sonnet %+v", sonnet)
	}
	mini := models["gpt-4o-mini"]
	if len(mini.Offerings) != 2 || mini.Offerings[1].Provider != "gemini" || mini.Route.Strategy != StrategyPriority ||
		len(mini.Aliases) != 1 || mini.Aliases[0] != "gpt-4o-latest" {
		t.Errorf("gpt-4o-mini %+v: want its fallback to gemini-flash after its own offering", mini)
	}
	if n := models["nova"]; len(n.Offerings) != 1 || n.Offerings[0].UpstreamModel != "amazon.nova-pro-v1:0" {
		t.Errorf("nova %+v", n)
	}
	if _, ok := models["gemini-pro-vertex"]; ok {
		t.Error("a Vertex AI deployment was carried")
	}
	if c.Store.Driver != "postgres" || c.Store.DSNEnv != "DATABASE_URL" || c.Breaker.CoolOff.Std().Seconds() != 30 {
		t.Errorf("store %+v breaker %+v", c.Store, c.Breaker)
	}
	for _, want := range []string{
		"vertex_ai/gemini-1.5-pro: Vertex AI channels are not supported yet",
		"wildcard model names are not served",
		"router_settings.num_retries",
		"router_settings.allowed_fails: not carried",
		"router_settings.redis_host: not carried",
		"litellm_settings.success_callback: not carried",
		"litellm_settings.context_window_fallbacks: not carried",
		"general_settings.store_model_in_db: not carried",
		"general_settings.master_key",
		"environment_variables: set LANGFUSE_PUBLIC_KEY",
		"tpm: 200000 per deployment is not carried",
		"not carried: model_info.mode",
		"router_settings.fallbacks to [gpt-4o-mini] are not carried",
		"export it as OPENAI_API_KEY",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no comment %q in:\n%s", want, out)
		}
	}
}

// Input that is not a LiteLLM config, or names nothing Switchyard serves,
// is an error, not an empty config.
func TestFromLiteLLM_Refusals(t *testing.T) {
	for name, in := range map[string]string{
		"not_yaml":    "model_list: [",
		"no_models":   "general_settings: {master_key: sk-1}",
		"only_vertex": "model_list: [{model_name: g, litellm_params: {model: vertex_ai/gemini-pro}}]",
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := FromLiteLLM([]byte(in)); err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
		})
	}
}

// Whatever the file holds, the importer returns an error or YAML that
// decodes, without panicking; output it produces from a file it accepts
// names no provider twice.
func FuzzFromLiteLLM(f *testing.F) {
	files, _ := filepath.Glob("testdata/litellm/*.litellm.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("model_list: [{model_name: a, litellm_params: {model: azure/x, api_base: 'http://[::1'}}]"))
	f.Add([]byte("model_list: [{model_name: a, litellm_params: {model: bedrock/x, rpm: [1]}}]\nrouter_settings: {fallbacks: [a, {a: b}], model_group_alias: 3}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := FromLiteLLM(data)
		if err != nil {
			return
		}
		var c Config
		if err := yaml.Unmarshal(out, &c); err != nil {
			t.Fatalf("output does not decode: %v\n%s", err, out)
		}
		seen := map[string]bool{}
		for _, p := range c.Providers {
			if seen[p.Name] {
				t.Fatalf("provider %q twice:\n%s", p.Name, out)
			}
			seen[p.Name] = true
		}
	})
}
