package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"switchyard/internal/syncbuf"
)

// runningDemo is a demo started by startDemo.
type runningDemo struct {
	info demoInfo
	out  *syncbuf.Buffer
}

// startDemo runs `switchyard demo` on free ports, with extra flags, until
// t ends and returns what it wrote to demo.json.
func startDemo(t *testing.T, extra ...string) *runningDemo {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
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

	// The demo tenant's payloads are captured, redacted, and shown in the
	// request's record.
	status, h, body := d.do(t, http.MethodPost, api+"/v1/chat/completions", d.info.APIKey,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"my card is 4111 1111 1111 1111"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	id := h.Get("X-Request-Id")
	var rec struct {
		Payload *struct{ Request, Response string } `json:"payload"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body = d.do(t, http.MethodGet, admin+"/admin/v1/requests/"+id, d.info.AdminToken, "")
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the ledger writes once a second
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &rec) != nil || rec.Payload == nil {
		t.Fatalf("request %s: %d %s", id, status, body)
	}
	if !strings.Contains(rec.Payload.Request, "my card is [REDACTED:card]") || rec.Payload.Response == "" {
		t.Errorf("captured payload %+v", rec.Payload)
	}
}

// A Bedrock SDK client reaches the demo with the AWS pair from demo.json
// over HTTP/2 without TLS (as the JavaScript SDK always does) and over
// HTTP/1.1, with the model's Bedrock-style alias, plain and streamed.
func TestDemo_BedrockSDKOverH2C(t *testing.T) {
	d := startDemo(t)
	alias := "anthropic.claude-sonnet-4-20250514-v1:0"
	for _, tc := range []struct {
		name  string
		h2c   bool
		proto int
	}{{"h2c", true, 2}, {"http1", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if tc.h2c {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			defer tr.CloseIdleConnections()
			var protos []int
			var mu sync.Mutex
			hc := aws.HTTPClient(httpDoer(func(r *http.Request) (*http.Response, error) {
				resp, err := tr.RoundTrip(r)
				if err == nil {
					mu.Lock()
					protos = append(protos, resp.ProtoMajor)
					mu.Unlock()
				}
				return resp, err
			}))
			c := bedrockruntime.NewFromConfig(aws.Config{Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider(d.info.AWSAccessKeyID, d.info.AWSSecretAccessKey, ""),
				Retryer:     func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: hc},
				func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String("http://" + d.info.Listen) })
			msg := []brtypes.Message{{Role: brtypes.ConversationRoleUser,
				Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hello over " + tc.name}}}}
			out, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(alias), Messages: msg})
			if err != nil {
				t.Fatal(err)
			}
			om, ok := out.Output.(*brtypes.ConverseOutputMemberMessage)
			if !ok || len(om.Value.Content) == 0 {
				t.Fatalf("output %#v", out.Output)
			}
			if txt, ok := om.Value.Content[0].(*brtypes.ContentBlockMemberText); !ok || !strings.Contains(txt.Value, "hello over "+tc.name) {
				t.Errorf("answer %#v", om.Value.Content[0])
			}
			st, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(alias), Messages: msg})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			var usage *brtypes.TokenUsage
			for ev := range st.GetStream().Events() {
				switch v := ev.(type) {
				case *brtypes.ConverseStreamOutputMemberContentBlockDelta:
					if dt, ok := v.Value.Delta.(*brtypes.ContentBlockDeltaMemberText); ok {
						text.WriteString(dt.Value)
					}
				case *brtypes.ConverseStreamOutputMemberMetadata:
					usage = v.Value.Usage
				}
			}
			if err := st.GetStream().Close(); err != nil {
				t.Fatal(err)
			}
			if err := st.GetStream().Err(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "hello over "+tc.name) || usage == nil || aws.ToInt32(usage.OutputTokens) == 0 {
				t.Errorf("stream text %q usage %+v", text.String(), usage)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(protos) != 2 {
				t.Errorf("%d responses seen, want 2", len(protos))
			}
			for _, p := range protos {
				if p != tc.proto {
					t.Errorf("protocols %v, want HTTP/%d", protos, tc.proto)
					break
				}
			}
		})
	}
}

// httpDoer adapts a function to aws.HTTPClient.
type httpDoer func(*http.Request) (*http.Response, error)

func (f httpDoer) Do(r *http.Request) (*http.Response, error) { return f(r) }
