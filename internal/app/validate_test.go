package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchyard/internal/config"
)

func runValidateFile(t *testing.T, yaml string, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = Run(t.Context(), append([]string{"validate", "-config", path}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

const validateBase = `
store: {driver: sqlite, dsn: /nonexistent/never-opened.db}
providers:
  - {name: oai, type: openai, api_key_env: OAI_KEY}
  - {name: aws, type: bedrock, region: eu-west-1, access_key_id_env: AWS_ID, secret_access_key_env: AWS_SECRET}
  - {name: sim, type: fake, api_key_env: NEVER_READ, fake: {cloud: bedrock}}
models:
  - name: m
    offerings: [{provider: oai}, {provider: aws, upstream_model: x}, {provider: sim, upstream_model: y}]
`

var validateEnv = map[string]string{"OAI_KEY": "k", "AWS_ID": "id", "AWS_SECRET": "s", "SWITCHYARD_ADMIN_TOKEN": "t"}

// TestValidate_AsServeWould: validate passes what serve starts (a fake
// Bedrock channel included, and it opens no store), and fails on what
// serve would refuse: an unset variable, a channel its adapter rejects, a
// malformed master key.
func TestValidate_AsServeWould(t *testing.T) {
	out, _, err := runValidateFile(t, validateBase, validateEnv)
	if err != nil || !strings.Contains(out, "ok (3 providers, 1 models, 0 contracts)") {
		t.Fatalf("valid config: %v\n%s", err, out)
	}
	// The fake Bedrock channel validate passed is one serve builds.
	if _, closeChannel, err := buildChannel(t.Context(), mustParse(t, validateBase).Providers[2], func(string) string { return "" }, nil); err != nil {
		t.Errorf("serve's code cannot build the fake bedrock channel: %v", err)
	} else {
		closeChannel()
	}

	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"unset_env", validateBase, map[string]string{"AWS_ID": "id"}, []string{
			"providers[0].api_key_env: environment variable OAI_KEY is not set",
			"providers[1].secret_access_key_env: environment variable AWS_SECRET is not set",
			"admin.token_env: environment variable SWITCHYARD_ADMIN_TOKEN is not set",
		}},
		{"bedrock_key_and_pair", strings.Replace(validateBase, "region: eu-west-1,", "region: eu-west-1, api_key_env: OAI_KEY,", 1), validateEnv, []string{
			`providers[1]: provider "aws": bedrock "aws": set either credentials or an API key, not both`,
		}},
		{"bad_master_key", validateBase, map[string]string{"OAI_KEY": "k", "AWS_ID": "id", "AWS_SECRET": "s", "SWITCHYARD_ADMIN_TOKEN": "t",
			"SWITCHYARD_MASTER_KEY": "short"}, []string{"SWITCHYARD_MASTER_KEY:"}},
		{"typo", "admin: {tokn_env: X}\n" + validateBase, validateEnv, []string{"admin.tokn_env: unknown field; did you mean token_env?"}},
		{"bad_alert_endpoint", "alerts: {endpoints: [{name: ops, url_env: HOOK_URL, secret_env: HOOK_SECRET}]}\n" + validateBase,
			map[string]string{"OAI_KEY": "k", "AWS_ID": "id", "AWS_SECRET": "s", "SWITCHYARD_ADMIN_TOKEN": "t",
				"HOOK_URL": "hooks.example.com/x", "HOOK_SECRET": "not-a-secret"}, []string{
				"alerts.endpoints[0].url: must be an http or https URL with a host",
			}},
		{"bad_alert_secret", "alerts: {endpoints: [{name: ops, url_env: HOOK_URL, secret_env: HOOK_SECRET}]}\n" + validateBase,
			map[string]string{"OAI_KEY": "k", "AWS_ID": "id", "AWS_SECRET": "s", "SWITCHYARD_ADMIN_TOKEN": "t",
				"HOOK_URL": "https://hooks.example.com/x", "HOOK_SECRET": "whsec_c2hvcnQ="}, []string{
				"alerts.endpoints[0].secret: webhook secret decodes to 5 bytes",
			}},
		{"unset_alert_env", "alerts: {endpoints: [{name: ops, url_env: HOOK_URL, secret_env: HOOK_SECRET}]}\n" + validateBase,
			validateEnv, []string{"alerts.endpoints[0].url_env: environment variable HOOK_URL is not set"}},
	} {
		_, _, err := runValidateFile(t, tc.yaml, tc.env)
		if err == nil {
			t.Errorf("%s: validate passed", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
		if strings.Contains(err.Error(), "NEVER_READ") {
			t.Errorf("%s: a fake channel's api_key_env, which serve never reads, was checked:\n%v", tc.name, err)
		}
	}
}

// TestValidate_EnvWarn: with -env-warn, unset variables are warnings and
// the rest is still checked.
func TestValidate_EnvWarn(t *testing.T) {
	out, errOut, err := runValidateFile(t, validateBase, nil, "-env-warn")
	if err != nil {
		t.Fatalf("validate -env-warn: %v", err)
	}
	if !strings.Contains(errOut, "warning: providers[0].api_key_env: environment variable OAI_KEY is not set") || !strings.Contains(out, "ok") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	bad := strings.Replace(validateBase, "region: eu-west-1,", "region: eu-west-1, api_key_env: OAI_KEY,", 1)
	if _, _, err := runValidateFile(t, bad, nil, "-env-warn"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("validate -env-warn of a channel serve refuses: %v", err)
	}
	// With the admin listener off its token is not needed.
	if _, _, err := runValidateFile(t, "admin: {listen: \"off\"}\n"+validateBase, map[string]string{"OAI_KEY": "k", "AWS_ID": "id", "AWS_SECRET": "s"}); err != nil {
		t.Errorf("admin off without a token: %v", err)
	}
}

func mustParse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestValidate_SecretFiles: validate checks every file the configuration
// names the way it checks variables: a missing or empty secret file is an
// error (a warning with -env-warn) naming the setting and the file, and
// the channel is still built to show its other problems.
func TestValidate_SecretFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile, idFile, secretFile := filepath.Join(dir, "key"), filepath.Join(dir, "id"), filepath.Join(dir, "secret")
	writeFile(t, keyFile, []byte("k\n"))
	writeFile(t, idFile, []byte("id\n"))
	writeFile(t, secretFile, []byte("s\n"))
	yaml := strings.NewReplacer("api_key_env: OAI_KEY", "api_key_file: "+keyFile,
		"access_key_id_env: AWS_ID", "access_key_id_file: "+idFile,
		"secret_access_key_env: AWS_SECRET", "secret_access_key_file: "+secretFile).Replace(validateBase)
	env := map[string]string{"SWITCHYARD_ADMIN_TOKEN": "t"}
	if out, _, err := runValidateFile(t, yaml, env); err != nil || !strings.Contains(out, "ok (3 providers") {
		t.Fatalf("valid config with secret files: %v\n%s", err, out)
	}

	missing := filepath.Join(dir, "absent")
	bad := strings.Replace(yaml, keyFile, missing, 1)
	writeFile(t, secretFile, nil)
	_, _, err := runValidateFile(t, bad, env)
	if err == nil {
		t.Fatal("validate passed a missing and an empty secret file")
	}
	for _, w := range []string{
		"providers[0].api_key_file: " + missing + ": no such file or directory",
		"providers[1].secret_access_key_file: " + secretFile + ": empty",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), `provider "oai"`) {
		t.Errorf("the missing file was reported twice:\n%v", err)
	}
	// With -env-warn they are warnings and the rest is still checked.
	out, errOut, err := runValidateFile(t, bad, env, "-env-warn")
	if err != nil || !strings.Contains(errOut, "warning: providers[0].api_key_file: "+missing) || !strings.Contains(out, "ok") {
		t.Errorf("-env-warn: %v\nstdout %q stderr %q", err, out, errOut)
	}
	// A file named by a setting serve does not read is not checked: the
	// admin token's with the admin listener off.
	writeFile(t, secretFile, []byte("s\n"))
	if _, _, err := runValidateFile(t, "admin: {listen: \"off\", token_file: "+missing+"}\n"+yaml, nil); err != nil {
		t.Errorf("admin off with a missing token file: %v", err)
	}
	if _, _, err := runValidateFile(t, "admin: {token_file: "+missing+"}\n"+yaml, nil); err == nil || !strings.Contains(err.Error(), "admin.token_file: "+missing) {
		t.Errorf("admin on with a missing token file: %v", err)
	}
}
