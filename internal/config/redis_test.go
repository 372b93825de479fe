package config

import (
	"strings"
	"testing"
)

func TestLimits_RedisURLForms(t *testing.T) {
	base := "providers: [{name: f, type: fake}]\nmodels: [{name: m, offerings: [{provider: f, upstream_model: m}]}]\n"
	for _, tc := range []struct {
		name, limits, want string
	}{
		{"url", "limits: {backend: redis, redis_url: 'redis://127.0.0.1:6379/0'}", ""},
		{"env", "limits: {backend: redis, redis_url_env: SY_REDIS}", ""},
		{"neither", "limits: {backend: redis}", "limits.redis_url: required for the redis backend (or limits.redis_url_env or limits.redis_url_file)"},
		{"no host", "limits: {backend: redis, redis_url: 'redis://'}", "limits.redis_url: must be a redis:// or rediss:// URL with a host"},
		// A URL with a password is refused without repeating it.
		{"secret kept", "limits: {backend: redis, redis_url: 'http://:hunter2@h:6379'}", "limits.redis_url: must be a redis://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tc.limits + "\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Parse error = %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}
