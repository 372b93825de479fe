package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runningDemo is a demo started by startDemo.
type runningDemo struct {
	info demoInfo
	out  *syncBuffer
}

// startDemo runs `switchyard demo` on free ports, with extra flags, until
// t ends and returns what it wrote to demo.json.
func startDemo(t *testing.T, extra ...string) *runningDemo {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		args := append([]string{"demo", "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-data", dir}, extra...)
		errc <- Run(ctx, args, func(string) string { return "" }, out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	d := &runningDemo{out: out}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
		if err == nil && json.Unmarshal(b, &d.info) == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo.json; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends one request to the demo and returns the status, the headers and
// the body.
func (d *runningDemo) do(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The demo ships example contracts: stateless GPT-5 on Azure, stateful
// GPT-5 on Bedrock and an AWS commitment that draws Claude to Bedrock while
// behind pace; its admin token, printed and in demo.json, opens the admin
// API.
func TestDemo_ContractsAndAdminToken(t *testing.T) {
	d := startDemo(t)
	if d.info.AdminToken == "" || !strings.Contains(d.out.String(), d.info.AdminToken) {
		t.Fatalf("admin token %q not printed:\n%s", d.info.AdminToken, d.out.String())
	}
	api := "http://" + d.info.Listen
	for _, tc := range []struct {
		name, path, body, provider, contract string
	}{
		{"stateless gpt-5", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			"azure-eastus", "stateless-gpt5-on-azure"},
		{"stateful gpt-5", "/v1/responses", `{"model":"gpt-5","input":"hi","store":true}`,
			"aws-us-east-1", "stateful-gpt5-on-bedrock"},
		{"claude behind the commitment's pace", "/v1/chat/completions", `{"model":"claude-sonnet-4","messages":[{"role":"user","content":"hi"}]}`,
			"aws-us-east-1", "aws-commitment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := d.do(t, http.MethodPost, api+tc.path, d.info.APIKey, tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if got := h.Get("X-Switchyard-Provider"); got != tc.provider {
				t.Errorf("served by %q, want %q (route %q)", got, tc.provider, h.Get("X-Switchyard-Route"))
			}
			if !strings.Contains(h.Get("X-Switchyard-Route"), tc.contract) {
				t.Errorf("route %q does not name %s", h.Get("X-Switchyard-Route"), tc.contract)
			}
		})
	}

	admin := "http://" + d.info.AdminListen
	if status, _, _ := d.do(t, http.MethodGet, admin+"/admin/v1/tenants", "wrong", ""); status != http.StatusUnauthorized {
		t.Errorf("admin API with a wrong token: %d, want 401", status)
	}
	status, _, body := d.do(t, http.MethodPost, admin+"/admin/v1/route/explain", d.info.AdminToken,
		`{"model":"gpt-5","traffic":"stateful","tenant":"demo"}`)
	var ex struct {
		Decision struct {
			Order []struct {
				Provider string `json:"provider"`
			} `json:"order"`
		} `json:"decision"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &ex) != nil {
		t.Fatalf("route explain: %d %s", status, body)
	}
	if len(ex.Decision.Order) != 1 || ex.Decision.Order[0].Provider != "aws-us-east-1" {
		t.Errorf("stateful gpt-5 may go to %+v, want only aws-us-east-1", ex.Decision.Order)
	}
}
