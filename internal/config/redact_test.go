package config

import (
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	c, err := Parse([]byte(`
store: {driver: postgres, dsn: "postgres://sy:hunter2-pg@db:5432/sy?sslmode=disable"}
limits: {backend: redis, redis_url: "redis://:hunter2-redis@cache:6379/0"}
providers:
  - name: up
    type: openai
    base_url: https://user:hunter2-url@api.example.com/v1
    api_key_env: UP_KEY
    headers: {X-Team: hunter2-header}
models:
  - name: m
    offerings: [{provider: up}]
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "hunter2") {
		t.Errorf("a secret survived redaction:\n%s", s)
	}
	for _, want := range []string{"UP_KEY", "db:5432", "cache:6379", "api.example.com", "X-Team: REDACTED", "sy:REDACTED@"} {
		if !strings.Contains(s, want) {
			t.Errorf("redacted config lacks %q:\n%s", want, s)
		}
	}
	// What is left is still a configuration that loads.
	if _, err := Parse(out); err != nil {
		t.Errorf("redacted config does not parse: %v", err)
	}
	if got := redactString("host=db user=sy password='a b' dbname=x"); strings.Contains(got, "a b") {
		t.Errorf("keyword DSN: %q", got)
	}
}
