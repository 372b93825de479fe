package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
	"switchyard/internal/route"
	"switchyard/internal/store"
)

// toolUpstream is an OpenAI-dialect upstream that answers every chat call
// with one tool call whose arguments arrive as the given fragments (one
// per stream chunk when streamed, joined otherwise).
type toolUpstream struct {
	frags []string
	calls atomic.Int32
}

func (u *toolUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	var req struct {
		Stream bool `json:"stream"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !req.Stream {
		args, _ := json.Marshal(strings.Join(u.frags, ""))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,`+
			`"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_bad","type":"function","function":{"name":"get_weather","arguments":%s}}]},`+
			`"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}`, args)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) {
		fmt.Fprintf(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, finish)
	}
	chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_bad","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null")
	for _, f := range u.frags {
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":`+strconv.Quote(f)+`}}]}`, "null")
	}
	chunk(`{}`, `"tool_calls"`)
	fmt.Fprint(w, `data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}`+"\n\ndata: [DONE]\n\n")
}

// recLedger keeps the usage records.
type recLedger struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (l *recLedger) Record(r store.UsageRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

// wait returns the records once there are n (a stream is recorded when
// the handler closes it, just after the client read its end).
func (l *recLedger) wait(t *testing.T, n int) []store.UsageRecord {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		recs := append([]store.UsageRecord(nil), l.recs...)
		l.mu.Unlock()
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) != n {
				t.Fatalf("ledger has %d records, want %d: %+v", len(recs), n, recs)
			}
			return recs
		}
	}
}

// anyKey accepts every key as one tenant's.
type anyKey struct{}

func (anyKey) Authenticate(context.Context, string) (*auth.Principal, error) {
	return &auth.Principal{Tenant: store.Tenant{ID: "t1", Name: "acme"}, Key: store.Key{ID: "k1", TenantID: "t1"}}, nil
}

// badToolServer is the front door over one OpenAI channel, "oai-tools",
// the only offering of model "tools" (so that a bad answer is not
// retried elsewhere), on up.
func badToolServer(t *testing.T, up *toolUpstream) (string, *recLedger) {
	t.Helper()
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	reg := provider.NewRegistry()
	if err := reg.Add(openai.New(openai.Options{Name: "oai-tools", BaseURL: us.URL + "/v1", APIKey: "sk-upstream"})); err != nil {
		t.Fatal(err)
	}
	cat, err := route.NewCatalog([]route.Model{{Name: "tools", Offerings: []route.Offering{
		{Provider: "oai-tools", ProviderType: "openai", UpstreamModel: "gpt-4o"}}}})
	if err != nil {
		t.Fatal(err)
	}
	led := &recLedger{}
	gw := gateway.New(gateway.Options{Runtime: gateway.Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led})
	front := httptest.NewServer(New(Options{Gateway: gw, Auth: anyKey{}}))
	t.Cleanup(front.Close)
	return front.URL, led
}

const (
	toolsDecl       = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	anthropicTools  = `"tools":[{"name":"get_weather","input_schema":{"type":"object"}}]`
	bedrockTools    = `"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]}`
	anthropicHeader = "Anthropic-Version"
)

// badToolRequests are one request per client dialect and mode, with what
// a failure looks like in it: the status, a mark of the error (a body, or
// an error event in a stream), and marks of a normal end.
var badToolRequests = []struct {
	name, path, body string
	header           []string
	stream           bool
	status           int
	errMark          string
	endMarks         []string
}{
	{"openai", "/v1/chat/completions", `{"model":"tools","messages":[{"role":"user","content":"Weather?"}],` + toolsDecl + `}`, nil,
		false, http.StatusBadGateway, `"type":"server_error"`, []string{`"finish_reason"`}},
	{"openai_stream", "/v1/chat/completions", `{"model":"tools","stream":true,"messages":[{"role":"user","content":"Weather?"}],` + toolsDecl + `}`, nil,
		true, http.StatusOK, `data: {"error":`, []string{`"finish_reason":"tool_calls"`, "[DONE]"}},
	{"anthropic", "/v1/messages", `{"model":"tools","max_tokens":100,"messages":[{"role":"user","content":"Weather?"}],` + anthropicTools + `}`,
		[]string{anthropicHeader, "2023-06-01"}, false, http.StatusBadGateway, `"type":"error"`, []string{`"stop_reason"`, `"tool_use"`}},
	{"anthropic_stream", "/v1/messages", `{"model":"tools","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Weather?"}],` + anthropicTools + `}`,
		[]string{anthropicHeader, "2023-06-01"}, true, http.StatusOK, "event: error", []string{"message_delta", "message_stop"}},
	{"bedrock", "/model/tools/converse", `{"messages":[{"role":"user","content":[{"text":"Weather?"}]}],` + bedrockTools + `}`, nil,
		false, http.StatusInternalServerError, `"message":`, []string{"stopReason", "toolUse"}},
	{"bedrock_stream", "/model/tools/converse-stream", `{"messages":[{"role":"user","content":[{"text":"Weather?"}]}],` + bedrockTools + `}`, nil,
		true, http.StatusOK, "Exception", []string{"messageStop"}},
}

func postTools(t *testing.T, base, path, body string, header []string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-client")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestBadToolArguments_EveryDialect checks that an upstream tool call with
// malformed arguments reaches no client as a finished call: each gets an
// error in its dialect (a streamed one after the fragments already sent,
// instead of the end), the ledger records a failure, and the channel was
// asked once.
func TestBadToolArguments_EveryDialect(t *testing.T) {
	for _, tc := range badToolRequests {
		t.Run(tc.name, func(t *testing.T) {
			up := &toolUpstream{frags: []string{`{"city":`, `"Paris"`, `, bad json`}}
			base, led := badToolServer(t, up)
			status, body := postTools(t, base, tc.path, tc.body, tc.header)
			if status != tc.status || !strings.Contains(body, tc.errMark) {
				t.Errorf("status %d, want %d with %s: %s", status, tc.status, tc.errMark, body)
			}
			for _, end := range tc.endMarks {
				if strings.Contains(body, end) {
					t.Errorf("client got %s: %s", end, body)
				}
			}
			if !tc.stream && (strings.Contains(body, "call_bad") || strings.Contains(body, "bad json")) {
				t.Errorf("error body shows the call: %s", body)
			}
			recs := led.wait(t, 1)
			if recs[0].Status != http.StatusBadGateway || recs[0].ErrorKind == "" || recs[0].Provider != "oai-tools" || recs[0].Stream != tc.stream {
				t.Errorf("ledger %+v, want a 502 failure on oai-tools", recs[0])
			}
			if n := up.calls.Load(); n != 1 {
				t.Errorf("upstream called %d times", n)
			}
		})
	}
}

// TestBadToolArguments_ValidFragmentsPass is the control: the same
// upstream with well-formed arguments, split across chunks, serves every
// dialect.
func TestBadToolArguments_ValidFragmentsPass(t *testing.T) {
	for _, tc := range badToolRequests {
		t.Run(tc.name, func(t *testing.T) {
			up := &toolUpstream{frags: []string{`{"city":`, `"Par`, `is"}`}}
			base, led := badToolServer(t, up)
			status, body := postTools(t, base, tc.path, tc.body, tc.header)
			if status != http.StatusOK || !strings.Contains(body, "call_bad") || !strings.Contains(body, "Par") || tc.stream && strings.Contains(body, tc.errMark) {
				t.Errorf("status %d: %s", status, body)
			}
			for _, end := range tc.endMarks[:1] {
				if !strings.Contains(body, end) {
					t.Errorf("answer lacks %s: %s", end, body)
				}
			}
			if recs := led.wait(t, 1); recs[0].Status != http.StatusOK {
				t.Errorf("ledger %+v", recs[0])
			}
		})
	}
}
