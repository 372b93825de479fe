package app

import (
	"strings"
	"testing"

	"switchyard/internal/config"
)

func TestRedisURL_FromEnv(t *testing.T) {
	env := map[string]string{"SY_REDIS": "redis://:pw@127.0.0.1:6379/2", "SY_BAD": "http://:pw@h"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		l         config.Limits
		want, err string
	}{
		{config.Limits{RedisURL: "redis://a:6379"}, "redis://a:6379", ""},
		{config.Limits{RedisURL: "redis://a:6379", RedisURLEnv: "SY_REDIS"}, "redis://:pw@127.0.0.1:6379/2", ""},
		{config.Limits{RedisURLEnv: "SY_UNSET"}, "", "limits.redis_url_env: $SY_UNSET is not set"},
		{config.Limits{RedisURLEnv: "SY_BAD"}, "", "limits.redis_url_env: $SY_BAD must be a redis://"},
	} {
		got, err := redisURL(tc.l, getenv)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("redisURL(%+v) = %q, %v; want %q, %q", tc.l, got, err, tc.want, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}
