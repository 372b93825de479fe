package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChannels(t *testing.T) {
	var resets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/admin/v1/channels":
			w.Write([]byte(`{"data":[{"name":"azure-sim","state":"open","error_rate":0.5,"window_requests":40,"consecutive_failures":20,"trips":1,"latency_ms":12.5}]}`))
		case r.Method == "POST" && r.URL.Path == "/admin/v1/channels/azure-sim/reset":
			resets = append(resets, "azure-sim")
			w.Write([]byte(`{"channel":"azure-sim","reset":true}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"message":"no channel \"nope\""}}`))
		}
	}))
	defer srv.Close()
	env := func(out *bytes.Buffer) *Env {
		return &Env{Getenv: func(k string) string {
			if k == "SWITCHYARD_ADMIN_TOKEN" {
				return "tok"
			}
			return ""
		}, Stdout: out, Stderr: out}
	}
	var out bytes.Buffer
	if err := Channels(t.Context(), env(&out), []string{"list", "-admin", srv.URL}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "azure-sim") || !strings.Contains(s, "open") || !strings.Contains(s, "50.0% of 40") || !strings.Contains(s, "12.5 ms") {
		t.Errorf("list:\n%s", s)
	}
	out.Reset()
	if err := Channels(t.Context(), env(&out), []string{"reset", "-admin", srv.URL, "azure-sim"}); err != nil || len(resets) != 1 {
		t.Fatalf("reset: %v, resets %v", err, resets)
	}
	if err := Channels(t.Context(), env(&out), []string{"reset", "-admin", srv.URL, "nope"}); err == nil || !strings.Contains(err.Error(), `no channel "nope" (404)`) {
		t.Errorf("reset of an unknown channel: %v", err)
	}
	if err := Channels(t.Context(), env(&out), []string{"list"}); err == nil || !strings.Contains(err.Error(), "-admin") {
		t.Errorf("list without -admin: %v", err)
	}
}
