package app

import (
	"os"
	"path/filepath"
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

func TestRedisURL_FromFile(t *testing.T) {
	dir := t.TempDir()
	good, bad, empty := filepath.Join(dir, "good"), filepath.Join(dir, "bad"), filepath.Join(dir, "empty")
	writeFile(t, good, []byte("redis://:pw@127.0.0.1:6379/2\n"))
	writeFile(t, bad, []byte("http://:pw@h\n"))
	writeFile(t, empty, nil)
	for _, tc := range []struct {
		l         config.Limits
		want, err string
	}{
		{config.Limits{RedisURL: "redis://a:6379", RedisURLFile: good}, "redis://:pw@127.0.0.1:6379/2", ""},
		{config.Limits{RedisURLFile: bad}, "", "limits.redis_url_file: " + bad + " must be a redis://"},
		{config.Limits{RedisURLFile: empty}, "", "limits.redis_url_file: " + empty + ": empty"},
	} {
		got, err := redisURL(tc.l, func(string) string { return "" })
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("redisURL(%+v) = %q, %v; want %q, %q", tc.l, got, err, tc.want, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestOpenConfiguredStore_DSNFile(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	writeFile(t, dsnFile, []byte(filepath.Join(dir, "from-file.db")+"\n"))
	cfg := &config.Config{Store: config.Store{Driver: "sqlite", DSN: filepath.Join(dir, "ignored.db"), DSNFile: dsnFile}}
	st, err := openConfiguredStore(t.Context(), cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, "from-file.db")); err != nil {
		t.Errorf("the store is not at the DSN from the file: %v", err)
	}
	cfg.Store.DSNFile = filepath.Join(dir, "absent")
	if _, err := openConfiguredStore(t.Context(), cfg, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "store.dsn_file: "+cfg.Store.DSNFile) {
		t.Errorf("missing DSN file: %v", err)
	}
}
