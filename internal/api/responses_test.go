package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/fakecloud"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/provider/azure"
	"switchyard/internal/provider/bedrock"
	"switchyard/internal/provider/gemini"
	"switchyard/internal/provider/openai"
	"switchyard/internal/route"
	"switchyard/internal/session"
	"switchyard/internal/sse"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/usage"
)

// respStack is the whole gateway for the stateful APIs: one store, one
// simulated cloud with a channel of each kind, and any number of
// front-door instances over them (replicas behind a load balancer).
type respStack struct {
	t      *testing.T
	cloud  *fakecloud.Server
	cloudS *httptest.Server
	store  *sqlstore.Store
	clock  *respClock
	ledger *respLedger
	// a and b are keys of two tenants, acme and globex.
	a, b *admin.Issued
}

// respClock is the session runtime's clock; tests move it to expire
// responses.
type respClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *respClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *respClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
}

// respLedger keeps the usage records the gateway writes.
type respLedger struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (l *respLedger) Record(rec store.UsageRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
}

func (l *respLedger) records() []store.UsageRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]store.UsageRecord(nil), l.recs...)
}

// respTTL is how long the stack keeps responses.
const respTTL = time.Hour

// Channel names of the stack.
const (
	rsAzure     = "azure-sim"
	rsBedrock   = "bedrock-sim"
	rsAnthropic = "anthropic-sim"
	rsOpenAI    = "openai-sim"
	rsGemini    = "gemini-sim"
)

func newRespStack(t *testing.T) *respStack {
	t.Helper()
	s := &respStack{t: t, clock: &respClock{}, ledger: &respLedger{}}
	s.store = sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	s.cloud = fakecloud.New(fakecloud.Options{Seed: 1})
	s.cloudS = httptest.NewServer(s.cloud)
	t.Cleanup(s.cloudS.Close)
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{9}, auth.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc := &admin.Service{Store: s.store, Sealer: sealer}
	for _, k := range []struct {
		dst    **admin.Issued
		tenant string
	}{{&s.a, "acme"}, {&s.b, "globex"}} {
		if *k.dst, err = svc.IssueKey(t.Context(), admin.KeySpec{Tenant: k.tenant, CreateTenant: true, Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// serve starts one more front door over the stack's store and cloud and
// returns its base URL.
func (s *respStack) serve() string {
	t := s.t
	t.Helper()
	base := s.cloudS.URL
	hc := &http.Client{}
	bed, err := bedrock.New(bedrock.Options{Name: rsBedrock, Region: "us-east-1", BaseURL: base + "/bedrock", HTTPClient: hc,
		Credentials: bedrock.Credentials{AccessKeyID: fakecloud.DefaultAWSAccessKeyID, SecretAccessKey: fakecloud.DefaultAWSSecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	reg := provider.NewRegistry()
	for _, p := range []provider.Provider{
		bed,
		azure.New(azure.Options{Name: rsAzure, BaseURL: base + "/azure", APIKey: fakecloud.DefaultKey, APIVersion: "2024-10-21", HTTPClient: hc}),
		anthropic.New(anthropic.Options{Name: rsAnthropic, BaseURL: base + "/anthropic", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
		openai.New(openai.Options{Name: rsOpenAI, BaseURL: base + "/openai/v1", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
		gemini.New(gemini.Options{Name: rsGemini, BaseURL: base + "/gemini", APIKey: fakecloud.DefaultKey, HTTPClient: hc}),
	} {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	off := map[string]route.Offering{
		rsBedrock:   {Provider: rsBedrock, ProviderType: "bedrock", Region: "us-east-1", UpstreamModel: "anthropic.claude-3-5-haiku-20241022-v1:0"},
		rsAzure:     {Provider: rsAzure, ProviderType: "azure", UpstreamModel: "mini-deployment"},
		rsAnthropic: {Provider: rsAnthropic, ProviderType: "anthropic", UpstreamModel: "claude-sonnet-4-20250514"},
		rsOpenAI:    {Provider: rsOpenAI, ProviderType: "openai", UpstreamModel: "gpt-4o-mini"},
		rsGemini:    {Provider: rsGemini, ProviderType: "gemini", UpstreamModel: "gemini-2.5-flash"},
	}
	catalog, err := route.NewCatalog([]route.Model{
		// portable is offered on three clouds; priority order.
		{Name: "portable", Offerings: []route.Offering{off[rsBedrock], off[rsAzure], off[rsAnthropic]}},
		// routed is pinned to Azure for stateless traffic by a contract.
		{Name: "routed", Offerings: []route.Offering{off[rsBedrock], off[rsAzure]}},
		{Name: "via-openai", Offerings: []route.Offering{off[rsOpenAI]}},
		{Name: "via-azure", Offerings: []route.Offering{off[rsAzure]}},
		{Name: "via-anthropic", Offerings: []route.Offering{off[rsAnthropic]}},
		{Name: "via-bedrock", Offerings: []route.Offering{off[rsBedrock]}},
		{Name: "via-gemini", Offerings: []route.Offering{off[rsGemini]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	router, err := route.New(route.Options{Catalog: catalog, Contracts: []route.Contract{{
		Name:  "stateless-on-azure",
		Match: route.Match{Models: []string{"routed"}, Traffic: route.Stateless},
		Allow: &route.Allow{ProviderTypes: []string{"azure"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{
		Runtime: gateway.Runtime{Router: router, Providers: reg},
		Ledger:  s.ledger,
		Cost:    func(u llm.Usage, p route.Price) float64 { return usage.Cost(u, usage.Price(p)) },
	})
	rt := session.New(session.Options{Store: s.store, ResponseTTL: respTTL, Now: s.clock.Now})
	front := New(Options{Gateway: gw, Auth: s.authenticator(), Sessions: rt})
	ts := httptest.NewServer(front)
	t.Cleanup(ts.Close)
	return ts.URL
}

// authenticator checks the stack's keys.
func (s *respStack) authenticator() *auth.Authenticator {
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{9}, auth.MasterKeySize))
	if err != nil {
		s.t.Fatal(err)
	}
	return auth.NewAuthenticator(s.store, auth.AuthOptions{Sealer: sealer})
}

func respClient(url, key string, opts ...openaioption.RequestOption) openaisdk.Client {
	return openaisdk.NewClient(append([]openaioption.RequestOption{
		openaioption.WithBaseURL(url + "/v1"), openaioption.WithAPIKey(key), openaioption.WithMaxRetries(0),
	}, opts...)...)
}

// okRecords returns the simulated clouds' answered requests, waiting until
// there are n (a cloud records a request when its handler returns).
func (s *respStack) okRecords(n int) []fakecloud.Record {
	s.t.Helper()
	var ok []fakecloud.Record
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ok = ok[:0]
		for _, r := range s.cloud.Records() {
			if r.Status == http.StatusOK {
				ok = append(ok, r)
			}
		}
		if len(ok) >= n {
			break
		}
	}
	if len(ok) != n {
		s.t.Fatalf("clouds answered %d requests, want %d", len(ok), n)
	}
	return ok
}

func userInput(text string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openaisdk.String(text)}
}

func sdkError(t *testing.T, err error) *openaisdk.Error {
	t.Helper()
	var e *openaisdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	return e
}

func TestResponses_CreateAndContinue(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	var raw *http.Response
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "via-openai", Input: userInput("Hello gateway"), Instructions: openaisdk.String("Answer like a pirate."),
		Metadata: map[string]string{"session": "one"}, Temperature: openaisdk.Float(0.5),
	}, openaioption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.ID, "resp_") || first.Status != responses.ResponseStatusCompleted || first.Object != "response" {
		t.Errorf("response %s status %s object %s", first.ID, first.Status, first.Object)
	}
	if got := first.OutputText(); !strings.HasPrefix(got, "Echo: Hello gateway [turns=1 ") {
		t.Errorf("output text %q", got)
	}
	if len(first.Output) != 1 || !strings.HasPrefix(first.Output[0].ID, "msg_") || first.Output[0].Type != "message" {
		t.Errorf("output %+v", first.Output)
	}
	u := first.Usage
	if u.InputTokens == 0 || u.OutputTokens == 0 || u.TotalTokens != u.InputTokens+u.OutputTokens || !u.JSON.InputTokensDetails.Valid() {
		t.Errorf("usage %+v", u)
	}
	if first.Instructions.OfString != "Answer like a pirate." || first.Metadata["session"] != "one" || first.Temperature != 0.5 ||
		!strings.Contains(first.RawJSON(), `"store":true`) || first.PreviousResponseID != "" || first.CompletedAt == 0 || first.Model != "via-openai" {
		t.Errorf("echoed settings %+v", first)
	}
	if raw.Header.Get("X-Switchyard-Provider") != rsOpenAI {
		t.Errorf("provider header %q", raw.Header.Get("X-Switchyard-Provider"))
	}

	second, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "via-openai", Input: userInput("And again"), PreviousResponseID: openaisdk.String(first.ID),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := second.OutputText(); !strings.HasPrefix(got, "Echo: And again [turns=2 ") {
		t.Errorf("continued output %q", got)
	}
	if second.PreviousResponseID != first.ID || second.Instructions.OfString != "" {
		t.Errorf("continuation echoes previous %q, instructions %+v", second.PreviousResponseID, second.Instructions)
	}
	// The upstream got the whole history, and not the first turn's
	// instructions.
	recs := s.okRecords(2)
	var body struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(recs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range body.Messages {
		roles = append(roles, m.Role)
	}
	if diff := cmp.Diff([]string{"user", "assistant", "user"}, roles); diff != "" {
		t.Errorf("second upstream request roles (-want +got):\n%s", diff)
	}
	if bytes.Contains(recs[1].Body, []byte("pirate")) || !bytes.Contains(recs[0].Body, []byte("pirate")) {
		t.Errorf("instructions were inherited:\n%s", recs[1].Body)
	}
}

func TestResponses_Stream(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	c := respClient(url, s.a.Secret)
	stream := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "via-anthropic", Input: userInput("stream this please")})
	var (
		types []string
		text  strings.Builder
		final responses.Response
	)
	for stream.Next() {
		ev := stream.Current()
		if int(ev.SequenceNumber) != len(types) {
			t.Errorf("event %d (%s) has sequence number %d", len(types), ev.Type, ev.SequenceNumber)
		}
		types = append(types, ev.Type)
		switch e := ev.AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			text.WriteString(e.Delta)
		case responses.ResponseCreatedEvent:
			if e.Response.Status != responses.ResponseStatusInProgress || len(e.Response.Output) != 0 || !strings.HasPrefix(e.Response.ID, "resp_") {
				t.Errorf("response.created carries %+v", e.Response)
			}
		case responses.ResponseCompletedEvent:
			final = e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	deltas := 0
	for _, typ := range types[len(want):] {
		if typ != "response.output_text.delta" {
			break
		}
		deltas++
	}
	for range deltas {
		want = append(want, "response.output_text.delta")
	}
	want = append(want, "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed")
	if diff := cmp.Diff(want, types); diff != "" || deltas < 2 {
		t.Errorf("%d deltas; event types (-want +got):\n%s", deltas, diff)
	}
	if final.Status != responses.ResponseStatusCompleted || final.OutputText() != text.String() || final.Usage.OutputTokens == 0 ||
		!strings.HasPrefix(text.String(), "Echo: stream this please") {
		t.Errorf("final %q (status %s) vs streamed %q", final.OutputText(), final.Status, text.String())
	}
	// The streamed response is stored as the client saw it.
	got, err := c.Responses.Get(context.Background(), final.ID, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.OutputText() != text.String() || got.Output[0].ID != final.Output[0].ID || got.Usage.OutputTokens != final.Usage.OutputTokens {
		t.Errorf("stored %+v", got)
	}
}

// TestResponses_StreamWire checks the stream's bytes: every event named
// after its type, sequence numbers from 0, no [DONE] and no top-level
// "error" member, which the SDKs would take for a failed stream.
func TestResponses_StreamWire(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	for _, tc := range []struct {
		name string
		body string
	}{
		{"text", `{"model":"via-bedrock","input":"hello there","stream":true}`},
		{"tool_call", `{"model":"via-azure","input":"weather in Paris?","stream":true,"tool_choice":"required",
			"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}`},
		{"reasoning", `{"model":"via-anthropic","input":"think first","stream":true,"reasoning":{"effort":"low"},"max_output_tokens":2000}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postJSON(t, url+"/v1/responses", s.a.Secret, tc.body)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			rd := sse.NewReader(resp.Body)
			n := 0
			var last string
			for {
				ev, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var data map[string]json.RawMessage
				if err := json.Unmarshal(ev.Data, &data); err != nil {
					t.Fatalf("event %d: %s: %v", n, ev.Data, err)
				}
				var typ string
				var seq int
				_ = json.Unmarshal(data["type"], &typ)
				_ = json.Unmarshal(data["sequence_number"], &seq)
				if ev.Type == "" || ev.Type != typ || seq != n {
					t.Errorf("event %d: event line %q, type %q, sequence %d", n, ev.Type, typ, seq)
				}
				if _, ok := data["error"]; ok {
					t.Errorf("event %d (%s) has a top-level error member", n, typ)
				}
				last = typ
				n++
			}
			if last != "response.completed" {
				t.Errorf("stream ended with %q", last)
			}
		})
	}
}

func postJSON(t *testing.T, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func weatherTool() responses.ToolUnionParam {
	return responses.ToolParamOfFunction("get_weather", map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"city": map[string]any{"type": "string"}},
		"required":             []string{"city"},
		"additionalProperties": false,
	}, true)
}

func TestResponses_FunctionCallRoundTrip(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	for _, model := range []string{"via-openai", "via-anthropic", "via-bedrock"} {
		t.Run(model, func(t *testing.T) {
			params := responses.ResponseNewParams{
				Model: model, Input: userInput("What's the weather in Paris? Call get_weather."),
				Tools: []responses.ToolUnionParam{weatherTool()},
			}
			first, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Output) != 1 || first.Output[0].Type != "function_call" {
				t.Fatalf("output %+v", first.Output)
			}
			fc := first.Output[0].AsFunctionCall()
			var args map[string]any
			if !strings.HasPrefix(fc.ID, "fc_") || fc.CallID == "" || fc.Name != "get_weather" ||
				json.Unmarshal([]byte(fc.Arguments), &args) != nil || args["city"] == nil {
				t.Fatalf("function call %+v", fc)
			}
			if len(first.Tools) != 1 || first.Tools[0].Name != "get_weather" || !first.Tools[0].Strict {
				t.Errorf("echoed tools %+v", first.Tools)
			}

			out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temperature":21}`)
			out.OfFunctionCallOutput.CallID = openaisdk.String(fc.CallID)
			second, err := c.Responses.New(ctx, responses.ResponseNewParams{
				Model: model, PreviousResponseID: openaisdk.String(first.ID), Tools: params.Tools,
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := second.OutputText(); !strings.HasPrefix(got, `Tool get_weather returned: {"temperature":21}`) {
				t.Errorf("answer after the tool result: %q", got)
			}
		})
	}

	// Streamed, the call arrives as argument deltas inside its item.
	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: "via-bedrock", Input: userInput("Use get_weather for Rome."), Tools: []responses.ToolUnionParam{weatherTool()},
	})
	var (
		types []string
		args  strings.Builder
		done  responses.ResponseFunctionCallArgumentsDoneEvent
	)
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch e := ev.AsAny().(type) {
		case responses.ResponseFunctionCallArgumentsDeltaEvent:
			args.WriteString(e.Delta)
		case responses.ResponseFunctionCallArgumentsDoneEvent:
			done = e
		case responses.ResponseOutputItemAddedEvent:
			if e.Item.Type != "function_call" || e.Item.Name != "get_weather" || e.Item.Status != "in_progress" {
				t.Errorf("added item %+v", e.Item)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	compact := compactTypes(types)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed"}
	if diff := cmp.Diff(want, compact); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	if done.Arguments != args.String() || !json.Valid([]byte(done.Arguments)) {
		t.Errorf("arguments done %q, deltas %q", done.Arguments, args.String())
	}
}

// compactTypes collapses runs of one event type.
func compactTypes(types []string) []string {
	var out []string
	for _, typ := range types {
		if len(out) == 0 || out[len(out)-1] != typ {
			out = append(out, typ)
		}
	}
	return out
}

func TestResponses_RetrieveDeleteAndInputItems(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	c := respClient(url, s.a.Secret)
	ctx := context.Background()
	items := responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("You are terse.", responses.EasyInputMessageRoleDeveloper),
		responses.ResponseInputItemParamOfMessage("first question", responses.EasyInputMessageRoleUser),
		responses.ResponseInputItemParamOfMessage("first answer", responses.EasyInputMessageRoleAssistant),
		responses.ResponseInputItemParamOfMessage("second question", responses.EasyInputMessageRoleUser),
	}
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-azure",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: items}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.OutputText() != r.OutputText() || got.Status != "completed" || got.CreatedAt != r.CreatedAt {
		t.Errorf("retrieved %+v", got)
	}

	// Default order is newest first.
	page, err := c.Responses.InputItems.List(ctx, r.ID, responses.InputItemListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, it := range page.Data {
		if !strings.HasPrefix(it.ID, "msg_") || it.Type != "message" || it.Status != "completed" {
			t.Errorf("input item %+v", it)
		}
		texts = append(texts, it.Role+": "+firstText(t, it.RawJSON()))
	}
	want := []string{"user: second question", "assistant: first answer", "user: first question", "developer: You are terse."}
	if diff := cmp.Diff(want, texts); diff != "" || page.HasMore {
		t.Errorf("input items, has_more %v (-want +got):\n%s", page.HasMore, diff)
	}
	// Pages of two, oldest first, follow each other by cursor.
	page, err = c.Responses.InputItems.List(ctx, r.ID, responses.InputItemListParams{Order: "asc", Limit: openaisdk.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
		HasMore bool   `json:"has_more"`
		Object  string `json:"object"`
	}
	if err := json.Unmarshal([]byte(page.RawJSON()), &list); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || !list.HasMore || list.Object != "list" || list.FirstID != page.Data[0].ID || list.LastID != page.Data[1].ID ||
		page.Data[0].Role != "developer" {
		t.Errorf("first page %s", page.RawJSON())
	}
	next, err := page.GetNextPage()
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Data) != 2 || next.HasMore || firstText(t, next.Data[1].RawJSON()) != "second question" {
		t.Errorf("second page %s", next.RawJSON())
	}

	resp := postJSONMethod(t, http.MethodDelete, url+"/v1/responses/"+r.ID, s.a.Secret)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(bytes.TrimSpace(body)) != `{"id":"`+r.ID+`","object":"response","deleted":true}` {
		t.Errorf("delete: %d %s", resp.StatusCode, body)
	}
	_, err = c.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
	if e := sdkError(t, err); e.StatusCode != 404 || e.Message != "No response found with id '"+r.ID+"'." {
		t.Errorf("get after delete: %d %q", e.StatusCode, e.Message)
	}
	if err := c.Responses.Delete(ctx, r.ID); sdkError(t, err).StatusCode != 404 {
		t.Errorf("second delete: %v", err)
	}
	_, err = c.Responses.InputItems.List(ctx, r.ID, responses.InputItemListParams{})
	if sdkError(t, err).StatusCode != 404 {
		t.Errorf("input items after delete: %v", err)
	}
}

func postJSONMethod(t *testing.T, method, url, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestResponses_ForeignTenant(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	ctx := context.Background()
	owner := respClient(url, s.a.Secret)
	mine, err := owner.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("my secret")})
	if err != nil {
		t.Fatal(err)
	}
	other := respClient(url, s.b.Secret)
	_, err = other.Responses.Get(ctx, mine.ID, responses.ResponseGetParams{})
	if e := sdkError(t, err); e.StatusCode != 404 {
		t.Errorf("foreign get: %d", e.StatusCode)
	}
	_, err = other.Responses.InputItems.List(ctx, mine.ID, responses.InputItemListParams{})
	if e := sdkError(t, err); e.StatusCode != 404 {
		t.Errorf("foreign input items: %d", e.StatusCode)
	}
	if err := other.Responses.Delete(ctx, mine.ID); sdkError(t, err).StatusCode != 404 {
		t.Errorf("foreign delete: %v", err)
	}
	_, err = other.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("continue it"),
		PreviousResponseID: openaisdk.String(mine.ID)})
	e := sdkError(t, err)
	if e.StatusCode != 404 || e.Code != "previous_response_not_found" || e.Param != "previous_response_id" || e.Type != "invalid_request_error" {
		t.Errorf("foreign previous_response_id: %d %+v", e.StatusCode, e)
	}
	// The exact body, as OpenAI writes it.
	resp := postJSON(t, url+"/v1/responses", s.b.Secret, `{"model":"via-openai","input":"x","previous_response_id":"`+mine.ID+`"}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"error":{"message":"Previous response with id '` + mine.ID + `' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}`
	if resp.StatusCode != 404 || string(bytes.TrimSpace(body)) != want {
		t.Errorf("foreign continuation: %d\n got %s\nwant %s", resp.StatusCode, body, want)
	}
	// Nothing reached a cloud for the refused continuation, and the owner
	// still has its response.
	s.okRecords(1)
	if _, err := owner.Responses.Get(ctx, mine.ID, responses.ResponseGetParams{}); err != nil {
		t.Errorf("owner's get: %v", err)
	}
}

func TestResponses_BadRequests(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	c := respClient(url, s.a.Secret)
	first, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "via-openai", Input: userInput("hi")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		param      string
		message    string
	}{
		{"previous_and_conversation", `{"model":"via-openai","input":"x","previous_response_id":"` + first.ID + `","conversation":"conv_1"}`,
			400, "conversation", "Mutually exclusive parameters: provide either 'previous_response_id' or 'conversation', not both."},
		{"orphan_function_call_output", `{"model":"via-openai","previous_response_id":"` + first.ID + `","input":[{"type":"function_call_output","call_id":"call_nope","output":"42"}]}`,
			400, "input", "No tool call found for function call output with call_id call_nope."},
		{"unknown_previous", `{"model":"via-openai","input":"x","previous_response_id":"resp_unknown"}`,
			404, "previous_response_id", "Previous response with id 'resp_unknown' not found."},
		{"unknown_conversation", `{"model":"via-openai","input":"x","conversation":{"id":"conv_unknown"}}`,
			404, "conversation", "No conversation found with id 'conv_unknown'."},
		{"hosted_tool", `{"model":"via-openai","input":"x","tools":[{"type":"web_search","search_context_size":"low"}]}`,
			400, "tools[0].type", `tools[0].type: "web_search" tools are not supported; only function tools are`},
		{"hosted_tool_type", `{"model":"via-openai","input":"x","tools":[{"type":"file_search","name":"f"}]}`,
			400, "tools[0].type", `tools[0].type: "file_search" tools are not supported; only function tools are`},
		{"unknown_member", `{"model":"via-openai","input":"x","prompt":{"id":"p"}}`,
			400, "prompt", "prompt: unknown or unsupported parameter"},
		{"background", `{"model":"via-openai","input":"x","background":true}`,
			400, "background", "background: background responses are not supported"},
		{"file_input", `{"model":"via-openai","input":[{"role":"user","content":[{"type":"input_file","file_id":"file_1"}]}]}`,
			400, "input[0].content[0].type", "input[0].content[0].type: input_file parts are not supported"},
		{"bad_json", `{"model":`, 400, "", "body: invalid JSON: unexpected end of JSON input"},
		{"wrong_type", `{"model":"via-openai","input":"x","temperature":"hot"}`, 400, "temperature", "temperature: expected a number, got a string"},
		{"no_model", `{"input":"x"}`, 400, "model", "you must provide a model parameter"},
		{"no_input", `{"model":"via-openai"}`, 400, "input", "There is nothing to answer: give at least one input item."},
		{"unknown_model", `{"model":"nope","input":"x"}`, 404, "model", "The model 'nope' does not exist or you do not have access to it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postJSON(t, url+"/v1/responses", s.a.Secret, tc.body)
			var body openAIError
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			param := ""
			if body.Error.Param != nil {
				param = *body.Error.Param
			}
			if resp.StatusCode != tc.status || param != tc.param || body.Error.Message != tc.message {
				t.Errorf("got %d param %q message %q\nwant %d param %q message %q", resp.StatusCode, param, body.Error.Message,
					tc.status, tc.param, tc.message)
			}
		})
	}
	s.okRecords(1)
}

func TestResponses_StoreFalseIsStateless(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	c := respClient(url, s.a.Secret)
	ctx := context.Background()
	// routed is pinned to Azure for stateless traffic: store:false with no
	// state goes there; a stored response (stateful) takes the priority
	// order, Bedrock first.
	var raw *http.Response
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "routed", Input: userInput("x"), Store: openaisdk.Bool(false)},
		openaioption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get("X-Switchyard-Provider") != rsAzure || !strings.Contains(r.RawJSON(), `"store":false`) {
		t.Errorf("stateless response served by %q: %s", raw.Header.Get("X-Switchyard-Provider"), r.RawJSON())
	}
	if _, err := c.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); sdkError(t, err).StatusCode != 404 {
		t.Errorf("an unstored response is readable: %v", err)
	}
	stored, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "routed", Input: userInput("y")}, openaioption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get("X-Switchyard-Provider") != rsBedrock {
		t.Errorf("stateful response served by %q", raw.Header.Get("X-Switchyard-Provider"))
	}
	// Continuing with store:false still uses state: stateful.
	if _, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "routed", Input: userInput("z"), Store: openaisdk.Bool(false),
		PreviousResponseID: openaisdk.String(stored.ID)}, openaioption.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get("X-Switchyard-Provider") != rsBedrock {
		t.Errorf("unstored continuation served by %q", raw.Header.Get("X-Switchyard-Provider"))
	}
	var traffic []string
	for _, rec := range s.ledger.records() {
		traffic = append(traffic, rec.Endpoint+"/"+rec.Traffic)
	}
	if diff := cmp.Diff([]string{"responses/stateless", "responses/stateful", "responses/stateful"}, traffic); diff != "" {
		t.Errorf("ledger traffic classes (-want +got):\n%s", diff)
	}
}

func TestResponses_Expiry(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("short-lived")})
	if err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(respTTL + time.Second)
	_, err = c.Responses.Get(ctx, r.ID, responses.ResponseGetParams{})
	if e := sdkError(t, err); e.StatusCode != 404 {
		t.Errorf("expired get: %d", e.StatusCode)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("again"), PreviousResponseID: openaisdk.String(r.ID)})
	if e := sdkError(t, err); e.StatusCode != 404 || e.Code != "previous_response_not_found" {
		t.Errorf("continuing an expired response: %d %s", e.StatusCode, e.Code)
	}
	rt := session.New(session.Options{Store: s.store})
	if n, err := rt.PurgeExpired(ctx, s.clock.Now()); err != nil || n != 1 {
		t.Errorf("PurgeExpired = %d, %v", n, err)
	}
}

// TestResponses_Portability runs three turns of one conversation on three
// different clouds: each upstream receives the whole history in its own
// wire format.
func TestResponses_Portability(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	failing := fakecloud.Faults{FailRate: 1, FailStatus: http.StatusServiceUnavailable}
	var (
		prev      string
		providers []string
		texts     []string
	)
	for turn, step := range []struct {
		input string
		fail  []string
	}{
		{"What's the weather in Paris? Call get_weather.", nil},
		{"", []string{"bedrock"}},
		{"Thanks! Anything else?", []string{"bedrock", "azure"}},
	} {
		s.cloud.SetFaults("", fakecloud.Faults{})
		for _, cloud := range step.fail {
			s.cloud.SetFaults(cloud, failing)
		}
		params := responses.ResponseNewParams{Model: "portable", Tools: []responses.ToolUnionParam{weatherTool()},
			Instructions: openaisdk.String("Be brief.")}
		if prev != "" {
			params.PreviousResponseID = openaisdk.String(prev)
		}
		if step.input != "" {
			params.Input = userInput(step.input)
		} else {
			// Turn 2 answers turn 1's tool call, made on another cloud.
			out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temperature":21}`)
			out.OfFunctionCallOutput.CallID = openaisdk.String(callIDOf(t, c, prev))
			params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}}
		}
		var raw *http.Response
		r, err := c.Responses.New(ctx, params, openaioption.WithResponseInto(&raw))
		if err != nil {
			t.Fatalf("turn %d: %v", turn+1, err)
		}
		prev = r.ID
		providers = append(providers, raw.Header.Get("X-Switchyard-Provider"))
		texts = append(texts, r.OutputText())
	}
	if diff := cmp.Diff([]string{rsBedrock, rsAzure, rsAnthropic}, providers); diff != "" {
		t.Errorf("channels per turn (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(texts[1], `Tool get_weather returned: {"temperature":21}`) || !strings.HasPrefix(texts[2], "Echo: Thanks! Anything else?") {
		t.Errorf("answers %q", texts)
	}
	recs := s.okRecords(3)

	// Bedrock Converse: content blocks keyed by kind, no "type".
	var converse struct {
		System   []map[string]any `json:"system"`
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	mustDecode(t, recs[0], "bedrock", &converse)
	if len(converse.Messages) != 1 || converse.Messages[0].Content[0]["text"] != "What's the weather in Paris? Call get_weather." ||
		converse.System[0]["text"] != "Be brief." {
		t.Errorf("bedrock body %s", recs[0].Body)
	}

	// Azure Chat Completions: the call as tool_calls, its result as a tool
	// message, with Bedrock's call ID.
	var chat struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	mustDecode(t, recs[1], "azure", &chat)
	var chatRoles []string
	for _, m := range chat.Messages {
		chatRoles = append(chatRoles, m.Role)
	}
	if diff := cmp.Diff([]string{"system", "user", "assistant", "tool"}, chatRoles); diff != "" {
		t.Errorf("azure roles (-want +got):\n%s\n%s", diff, recs[1].Body)
	} else if call := chat.Messages[2].ToolCalls; len(call) != 1 || call[0].Function.Name != "get_weather" || call[0].ID != chat.Messages[3].ToolCallID {
		t.Errorf("azure tool round trip %s", recs[1].Body)
	}

	// Anthropic Messages: typed blocks, tool_use and tool_result, then
	// the assistant's text and the new question.
	var msgs struct {
		System   any `json:"system"`
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	mustDecode(t, recs[2], "anthropic", &msgs)
	var blocks []string
	for _, m := range msgs.Messages {
		for _, b := range m.Content {
			blocks = append(blocks, m.Role+":"+fmt.Sprint(b["type"]))
		}
	}
	want := []string{"user:text", "assistant:tool_use", "user:tool_result", "assistant:text", "user:text"}
	if diff := cmp.Diff(want, blocks); diff != "" {
		t.Errorf("anthropic blocks (-want +got):\n%s\n%s", diff, recs[2].Body)
	}
	// The simulated model counts the user turns it was given.
	for i, want := range []string{"turns=1", "turns=2", "turns=3"} {
		if i > 0 && !strings.Contains(texts[i], want) {
			t.Errorf("turn %d answer %q lacks %s", i+1, texts[i], want)
		}
	}
}

// TestResponses_PortabilityFromGemini stores a history with two Gemini
// tool turns (Gemini sends calls without ids, the gateway names them) and
// continues it on Anthropic and on Bedrock, which refuse a history that
// repeats a tool call id: each must receive both calls, with distinct ids,
// each result answering its own call.
func TestResponses_PortabilityFromGemini(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	prev := ""
	send := func(t *testing.T, model string, input responses.ResponseNewParamsInputUnion) *responses.Response {
		t.Helper()
		params := responses.ResponseNewParams{Model: model, Input: input, Tools: []responses.ToolUnionParam{weatherTool()}}
		if prev != "" {
			params.PreviousResponseID = openaisdk.String(prev)
		}
		r, err := c.Responses.New(ctx, params)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		return r
	}
	var callIDs []string
	for _, city := range []string{"Paris", "Rome"} {
		r := send(t, "via-gemini", userInput("What's the weather in "+city+"? Call get_weather."))
		prev = r.ID
		id := callIDOf(t, c, r.ID)
		callIDs = append(callIDs, id)
		out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"city":"` + city + `"}`)
		out.OfFunctionCallOutput.CallID = openaisdk.String(id)
		r = send(t, "via-gemini", responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}})
		prev = r.ID
	}
	if callIDs[0] == callIDs[1] {
		t.Fatalf("both Gemini turns named their call %q", callIDs[0])
	}
	s.okRecords(4)
	geminiTurns := prev

	for _, tc := range []struct {
		model, cloud string
		// calls and results pull the tool call ids and the ids results
		// answer out of the upstream body, in order.
		calls, results func(t *testing.T, body []byte) []string
	}{
		{"via-anthropic", "anthropic", anthropicToolIDs("tool_use", "id"), anthropicToolIDs("tool_result", "tool_use_id")},
		{"via-bedrock", "bedrock", converseToolIDs("toolUse"), converseToolIDs("toolResult")},
	} {
		t.Run(tc.model, func(t *testing.T) {
			s.cloud.Reset()
			prev = geminiTurns
			r := send(t, tc.model, userInput("Thanks! Anything else?"))
			if !strings.HasPrefix(r.OutputText(), "Echo: Thanks! Anything else?") || !strings.Contains(r.OutputText(), "turns=5") {
				t.Errorf("answer %q", r.OutputText())
			}
			rec := s.okRecords(1)[0]
			if rec.Cloud != tc.cloud {
				t.Fatalf("request went to %s, want %s", rec.Cloud, tc.cloud)
			}
			calls, results := tc.calls(t, rec.Body), tc.results(t, rec.Body)
			if len(calls) != 2 || calls[0] == calls[1] {
				t.Errorf("tool call ids %q, want two distinct\n%s", calls, rec.Body)
			}
			if diff := cmp.Diff(calls, results); diff != "" {
				t.Errorf("results do not answer the calls in order (-calls +results):\n%s", diff)
			}
		})
	}
}

// anthropicToolIDs returns the field of every Messages block of the type.
func anthropicToolIDs(typ, field string) func(*testing.T, []byte) []string {
	return func(t *testing.T, body []byte) []string {
		t.Helper()
		var req struct {
			Messages []struct {
				Content []map[string]any `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("anthropic body: %v\n%s", err, body)
		}
		var ids []string
		for _, m := range req.Messages {
			for _, b := range m.Content {
				if b["type"] == typ {
					ids = append(ids, fmt.Sprint(b[field]))
				}
			}
		}
		return ids
	}
}

// converseToolIDs returns the toolUseId of every Converse block of the
// member (toolUse or toolResult).
func converseToolIDs(member string) func(*testing.T, []byte) []string {
	return func(t *testing.T, body []byte) []string {
		t.Helper()
		var req struct {
			Messages []struct {
				Content []map[string]json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("bedrock body: %v\n%s", err, body)
		}
		var ids []string
		for _, m := range req.Messages {
			for _, b := range m.Content {
				raw, ok := b[member]
				if !ok {
					continue
				}
				var v struct {
					ToolUseID string `json:"toolUseId"`
				}
				if err := json.Unmarshal(raw, &v); err != nil {
					t.Fatalf("bedrock %s block: %v", member, err)
				}
				ids = append(ids, v.ToolUseID)
			}
		}
		return ids
	}
}

func callIDOf(t *testing.T, c openaisdk.Client, id string) string {
	t.Helper()
	r, err := c.Responses.Get(context.Background(), id, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range r.Output {
		if it.Type == "function_call" {
			return it.CallID
		}
	}
	t.Fatalf("response %s made no function call: %s", id, r.RawJSON())
	return ""
}

func mustDecode(t *testing.T, rec fakecloud.Record, cloud string, v any) {
	t.Helper()
	if rec.Cloud != cloud {
		t.Fatalf("request went to %s, want %s", rec.Cloud, cloud)
	}
	if err := json.Unmarshal(rec.Body, v); err != nil {
		t.Fatalf("%s body: %v\n%s", cloud, err, rec.Body)
	}
}

// TestResponses_TwoInstances continues, on one replica, a chain started on
// another: state lives in the shared store.
func TestResponses_TwoInstances(t *testing.T) {
	s := newRespStack(t)
	one, two := respClient(s.serve(), s.a.Secret), respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	r1, err := one.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("started on one")})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := two.Responses.New(ctx, responses.ResponseNewParams{Model: "via-openai", Input: userInput("continued on two"),
		PreviousResponseID: openaisdk.String(r1.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r2.OutputText(), "turns=2") {
		t.Errorf("second replica's answer %q did not see the history", r2.OutputText())
	}
	if got, err := one.Responses.Get(ctx, r2.ID, responses.ResponseGetParams{}); err != nil || got.PreviousResponseID != r1.ID {
		t.Errorf("first replica reads the second's response: %v, %v", got, err)
	}
}

// TestResponses_AbandonedStream: a client that leaves mid-stream cancels
// the upstream call, and what it was sent is stored as an incomplete
// response.
func TestResponses_AbandonedStream(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	s.cloud.SetFaults("", fakecloud.Faults{TokensPerSecond: 5})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := respClient(url, s.a.Secret)
	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "via-openai",
		Input: userInput("please write a long answer about many interesting things in the world today")})
	var id, seen string
	for stream.Next() {
		switch e := stream.Current().AsAny().(type) {
		case responses.ResponseCreatedEvent:
			id = e.Response.ID
		case responses.ResponseTextDeltaEvent:
			seen += e.Delta
		}
		if strings.Count(seen, " ") >= 2 {
			break
		}
	}
	cancel()
	stream.Close()
	left := time.Now()
	if id == "" || seen == "" {
		t.Fatalf("no response id or text before leaving (%v)", stream.Err())
	}
	var stored *store.Response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r, err := s.store.ResponseByID(context.Background(), s.a.Key.TenantID, id, time.Now())
		if err == nil {
			stored = r
			break
		}
	}
	if stored == nil {
		t.Fatal("the abandoned response was not stored")
	}
	if stored.Status != store.ResponseIncomplete || len(stored.Output) != 1 || stored.Output[0].Status != store.ResponseIncomplete {
		t.Fatalf("stored %+v", stored)
	}
	text := stored.Output[0].Content[0].Text
	if !strings.HasPrefix(text, seen) || strings.Contains(text, "[turns=") {
		t.Errorf("stored text %q; the client saw %q and the full answer ends with a tag", text, seen)
	}
	// The upstream request was cut short too: at five tokens a second the
	// whole answer takes over three seconds, and the simulated cloud
	// records a request when it ends.
	for deadline := left.Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(s.cloud.Records()) == 1 {
			for _, rec := range s.ledger.records() {
				if rec.Status != 499 {
					t.Errorf("ledger records the stream with status %d, want 499", rec.Status)
				}
			}
			return
		}
	}
	t.Error("the upstream request went on after the client left")
}

// TestResponses_StreamFailure: an upstream stream cut after the first
// events ends in response.failed, and the response is stored as failed.
func TestResponses_StreamFailure(t *testing.T) {
	s := newRespStack(t)
	url := s.serve()
	s.cloud.SetFaults("", fakecloud.Faults{CutStreamAfter: 2})
	c := respClient(url, s.a.Secret)
	stream := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "via-openai",
		Input: userInput("this answer will be cut short by the simulated cloud")})
	var (
		failed *responses.Response
		types  []string
	)
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if e, ok := ev.AsAny().(responses.ResponseFailedEvent); ok {
			failed = &e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if failed == nil || failed.Status != "failed" || failed.Error.Code != "server_error" || failed.Error.Message == "" {
		t.Fatalf("events %v, failed response %+v", compactTypes(types), failed)
	}
	got, err := c.Responses.Get(context.Background(), failed.ID, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "failed" || got.Error.Code != "server_error" || len(got.Output) != 1 || got.Output[0].Status != "incomplete" {
		t.Errorf("stored failure %s", got.RawJSON())
	}
}

// TestResponses_ReasoningRoundTrip: reasoning signed by a channel comes
// back to it in the next turn, through the store or, statelessly, through
// encrypted_content.
func TestResponses_ReasoningRoundTrip(t *testing.T) {
	s := newRespStack(t)
	c := respClient(s.serve(), s.a.Secret)
	ctx := context.Background()
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-anthropic", Input: userInput("Use get_weather for Oslo."),
		Tools: []responses.ToolUnionParam{weatherTool()}, Reasoning: sharedReasoning("low"), MaxOutputTokens: openaisdk.Int(4000),
		Include: []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent}, Store: openaisdk.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Output) != 2 || first.Output[0].Type != "reasoning" || first.Output[1].Type != "function_call" {
		t.Fatalf("output %s", first.RawJSON())
	}
	rs := first.Output[0].AsReasoning()
	if len(rs.Content) != 1 || rs.Content[0].Text == "" || !strings.HasPrefix(rs.EncryptedContent, "sy1.") || first.Usage.OutputTokensDetails.ReasoningTokens == 0 {
		t.Fatalf("reasoning item %s", first.Output[0].RawJSON())
	}
	// Stateless: the client sends the reasoning and the call back with the
	// result; the channel checks the signature it made.
	out := responses.ResponseInputItemParamOfFunctionCallOutput("cold")
	out.OfFunctionCallOutput.CallID = openaisdk.String(first.Output[1].CallID)
	input := responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("Use get_weather for Oslo.", responses.EasyInputMessageRoleUser),
		{OfReasoning: ptrTo(first.Output[0].AsReasoning().ToParam())}, {OfFunctionCall: ptrTo(first.Output[1].AsFunctionCall().ToParam())}, out,
	}
	second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-anthropic", Tools: []responses.ToolUnionParam{weatherTool()},
		Reasoning: sharedReasoning("low"), MaxOutputTokens: openaisdk.Int(4000), Store: openaisdk.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.OutputText(), "Tool get_weather returned: cold") {
		t.Errorf("stateless answer %s", second.RawJSON())
	}
	// Stored: the same round trip through previous_response_id.
	stored, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-anthropic", Input: userInput("Use get_weather for Oslo."),
		Tools: []responses.ToolUnionParam{weatherTool()}, Reasoning: sharedReasoning("low"), MaxOutputTokens: openaisdk.Int(4000)})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Output[0].AsReasoning().EncryptedContent != "" {
		t.Errorf("encrypted_content without include: %s", stored.Output[0].RawJSON())
	}
	out.OfFunctionCallOutput.CallID = openaisdk.String(stored.Output[1].CallID)
	next, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "via-anthropic", Tools: []responses.ToolUnionParam{weatherTool()},
		Reasoning: sharedReasoning("low"), MaxOutputTokens: openaisdk.Int(4000), PreviousResponseID: openaisdk.String(stored.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(next.OutputText(), "Tool get_weather returned: cold") {
		t.Errorf("stored answer %s", next.RawJSON())
	}
	// Both continuations carried the signed thinking block back.
	recs := s.okRecords(4)
	for _, i := range []int{1, 3} {
		var body struct {
			Messages []struct {
				Content []map[string]any `json:"content"`
			} `json:"messages"`
		}
		mustDecode(t, recs[i], "anthropic", &body)
		if len(body.Messages) < 2 || len(body.Messages[1].Content) == 0 || body.Messages[1].Content[0]["type"] != "thinking" ||
			body.Messages[1].Content[0]["signature"] == "" {
			t.Errorf("request %d did not send the thinking block back: %s", i, recs[i].Body)
		}
	}
}

func sharedReasoning(effort string) shared.ReasoningParam {
	return shared.ReasoningParam{Effort: shared.ReasoningEffort(effort)}
}

// firstText returns the text of an item's first content part.
func firstText(t *testing.T, raw string) string {
	t.Helper()
	var it struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte(raw), &it); err != nil || len(it.Content) == 0 {
		t.Fatalf("item without content: %s (%v)", raw, err)
	}
	return it.Content[0].Text
}

func ptrTo[T any](v T) *T { return &v }
