package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// answerProvider answers every call with resp, or streams events.
type answerProvider struct {
	name   string
	resp   *llm.Response
	events []llm.Event
	calls  int
}

func (p *answerProvider) Name() string { return p.name }

func (p *answerProvider) Chat(context.Context, *llm.Request) (*llm.Response, error) {
	p.calls++
	r := *p.resp
	return &r, nil
}

func (p *answerProvider) ChatStream(context.Context, *llm.Request) (llm.Stream, error) {
	p.calls++
	return &scriptStream{events: p.events}, nil
}

func toolCall(id, args string) llm.Part {
	return llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: id, Name: "get_weather", Arguments: args}}
}

func TestCheckToolCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parts  []llm.Part
		finish llm.FinishReason
		bad    string // the refused call; "" when accepted
	}{
		{"object", []llm.Part{llm.Text("x"), toolCall("c1", `{"city":"Paris"}`)}, llm.FinishToolCalls, ""},
		{"empty", []llm.Part{toolCall("c1", ""), toolCall("c2", " ")}, llm.FinishToolCalls, ""},
		{"malformed", []llm.Part{toolCall("c1", `{"city":"Paris"}`), toolCall("c2", `{bad json`)}, llm.FinishToolCalls, "c2"},
		{"array", []llm.Part{toolCall("c1", `[1]`)}, llm.FinishStop, "c1"},
		{"json_string", []llm.Part{toolCall("c1", `"{}"`)}, llm.FinishToolCalls, "c1"},
		{"cut_off_last", []llm.Part{toolCall("c1", `{}`), toolCall("c2", `{"ci`)}, llm.FinishLength, ""},
		{"cut_off_not_last", []llm.Part{toolCall("c1", `{"ci`), toolCall("c2", `{}`), llm.Text("x")}, llm.FinishLength, "c1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkToolCalls("ch", tc.parts, tc.finish)
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || pe.Provider != "ch" || !strings.Contains(pe.Message, `"`+tc.bad+`"`) {
				t.Fatalf("error = %v, want a bad response naming %s", err, tc.bad)
			}
		})
	}
}

// newAnswerGateway serves model "m" from ps, in order.
func newAnswerGateway(t *testing.T, ps ...provider.Provider) (*Gateway, *memLedger) {
	t.Helper()
	reg := provider.NewRegistry()
	m := route.Model{Name: "m", Strategy: "priority", MaxAttempts: len(ps)}
	for _, p := range ps {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
		m.Offerings = append(m.Offerings, route.Offering{Provider: p.Name(), UpstreamModel: "up-" + p.Name()})
	}
	cat, err := route.NewCatalog([]route.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	return New(Options{Runtime: Runtime{Router: route.NewRouter(cat, nil), Providers: reg}, Ledger: led}), led
}

func TestChat_BadToolArgumentsFallBack(t *testing.T) {
	bad := &answerProvider{name: "a", resp: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant,
		Parts: []llm.Part{toolCall("call_1", `{bad json`)}}, FinishReason: llm.FinishToolCalls}}
	good := &answerProvider{name: "b", resp: &llm.Response{Message: llm.Message{Role: llm.RoleAssistant,
		Parts: []llm.Part{toolCall("call_1", `{"city":"Paris"}`)}}, FinishReason: llm.FinishToolCalls}}

	g, led := newAnswerGateway(t, bad)
	_, _, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || pe.Provider != "a" || StatusOf(err) != 502 {
		t.Fatalf("error = %v (status %d), want a 502 bad response from a", err, StatusOf(err))
	}
	if len(led.recs) != 1 || led.recs[0].Status != 502 || led.recs[0].ErrorKind == "" {
		t.Errorf("ledger %+v", led.recs)
	}

	g, led = newAnswerGateway(t, bad, good)
	resp, res, err := g.Chat(context.Background(), &Call{Model: "m"}, chatReq())
	if err != nil || res.Provider != "b" || resp.Message.Parts[0].ToolCall.Arguments != `{"city":"Paris"}` {
		t.Fatalf("fallback: %v, %+v", err, res)
	}
	if len(led.recs) != 1 || led.recs[0].Status != 200 || led.recs[0].Attempts != 2 {
		t.Errorf("ledger %+v", led.recs)
	}
}

func TestChatStream_BadToolArgumentsFailAtStop(t *testing.T) {
	u := llm.Usage{InputTokens: 5, OutputTokens: 5}
	stream := func(args ...string) []llm.Event {
		evs := []llm.Event{{Kind: llm.EventStart, ID: "s"}}
		for i, a := range args {
			evs = append(evs, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{ID: "call_" + string(rune('a'+i)), Name: "f", Arguments: a}})
		}
		return append(evs, llm.Event{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &u})
	}
	for _, tc := range []struct {
		name string
		args []string
		bad  string
	}{
		{"valid", []string{`{"a":1}`, ``}, ""},
		{"malformed", []string{`{"a":1}`, `{bad`}, "call_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, led := newAnswerGateway(t, &answerProvider{name: "a", events: stream(tc.args...)})
			s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, chatReq())
			if err != nil {
				t.Fatal(err)
			}
			var last error
			stopped := false
			for ev, err := range llm.All(s) {
				last = err
				stopped = stopped || ev.Kind == llm.EventStop
			}
			s.Close()
			if tc.bad == "" {
				if last != nil || !stopped || led.recs[0].Status != 200 {
					t.Fatalf("err %v, stopped %v, ledger %+v", last, stopped, led.recs)
				}
				return
			}
			var pe *provider.Error
			if stopped || !errors.As(last, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, tc.bad) {
				t.Fatalf("err %v, stopped %v: want the stream failed naming %s", last, stopped, tc.bad)
			}
			if led.recs[0].Status != 502 {
				t.Errorf("ledger status %d, want 502", led.recs[0].Status)
			}
		})
	}
}
