package gemini

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/sse"
)

type streamResult struct {
	Events []llm.Event
	Error  *streamError `json:",omitempty"`
}

type streamError struct {
	Kind    string
	Message string
	Err     string
}

// decodeStream runs the SSE reader and the decoder over a recorded
// upstream body, as the adapter's stream does.
func decodeStream(body []byte) streamResult {
	var res streamResult
	fail := func(err error) streamResult {
		var pe *provider.Error
		if errors.As(err, &pe) {
			res.Error = &streamError{Kind: pe.Kind.String(), Message: pe.Message, Err: fmt.Sprint(pe.Err)}
		} else {
			res.Error = &streamError{Kind: "not a provider error", Err: err.Error()}
		}
		return res
	}
	rd := sse.NewReader(bytes.NewReader(body))
	dec := NewStreamDecoder("test", "k")
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			evs, err := dec.End()
			if err != nil {
				return fail(err)
			}
			res.Events = append(res.Events, evs...)
			return res
		}
		if err != nil {
			return fail(err)
		}
		evs, err := dec.Decode(ev.Data)
		if err != nil {
			return fail(err)
		}
		res.Events = append(res.Events, evs...)
	}
}

func TestStreamDecoder_Golden(t *testing.T) {
	const dir = "testdata/stream/"
	for _, name := range providertest.Cases(t, dir, ".sse") {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(dir + name + ".sse")
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, dir+name+".events.json", decodeStream(body))
		})
	}
}

// TestStreamDecoder_MatchesResponseToLLM checks that an answer streamed in
// chunks accumulates to what the same answer sent whole translates to.
func TestStreamDecoder_MatchesResponseToLLM(t *testing.T) {
	body, err := os.ReadFile("testdata/stream/thinking_then_call.sse")
	if err != nil {
		t.Fatal(err)
	}
	res := decodeStream(body)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	var acc llm.Accumulator
	for _, ev := range res.Events {
		acc.Add(ev)
	}
	whole := &GenerateContentResponse{
		Candidates: []Candidate{{Content: &Content{Role: RoleModel, Parts: []Part{
			{Text: "**Planning** I will call the tool.", Thought: true},
			{Text: "Checking the weather."},
			{FunctionCall: &FunctionCall{Name: "get_weather", Args: []byte(`{"city": "Paris"}`)}, ThoughtSignature: "c2lnLWNhbGw="},
			{FunctionCall: &FunctionCall{Name: "get_weather", Args: []byte(`{"city": "Rome"}`)}},
		}}, FinishReason: "STOP"}},
		UsageMetadata: &UsageMetadata{PromptTokenCount: 60, CandidatesTokenCount: 30, CachedContentTokenCount: 32, ThoughtsTokenCount: 50},
		ModelVersion:  "gemini-2.5-pro", ResponseID: "r-2",
	}
	want, err := ResponseToLLM(whole, "k")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, acc.Response()); diff != "" {
		t.Errorf("streamed (-whole +streamed):\n%s", diff)
	}
}

func TestStreamDecoder_ErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   int
		kind   provider.Kind
	}{
		{"RESOURCE_EXHAUSTED", 429, provider.KindRateLimited},
		{"UNAVAILABLE", 503, provider.KindOverloaded},
		{"INTERNAL", 500, provider.KindUnavailable},
		{"DEADLINE_EXCEEDED", 504, provider.KindTimeout},
		{"INVALID_ARGUMENT", 400, provider.KindBadRequest},
		{"", 429, provider.KindRateLimited},
		{"", 0, provider.KindUnavailable},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.status, tc.code), func(t *testing.T) {
			dec := NewStreamDecoder("gemini-main", "k")
			_, err := dec.Decode(fmt.Appendf(nil, `{"error":{"code":%d,"message":"m","status":%q}}`, tc.code, tc.status))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Provider != "gemini-main" {
				t.Errorf("err = %v, want kind %v", err, tc.kind)
			}
		})
	}
}

// TestStreamDecoder_CallIDs checks that a stream whose chunks carry no
// responseId names its calls after the fallback key, the same in every
// chunk.
func TestStreamDecoder_CallIDs(t *testing.T) {
	dec := NewStreamDecoder("gemini-main", "K7")
	var acc llm.Accumulator
	for _, chunk := range []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]}}]}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"g","args":{}}}]},"finishReason":"STOP"}]}`,
	} {
		evs, err := dec.Decode([]byte(chunk))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			acc.Add(ev)
		}
	}
	evs, err := dec.End()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		acc.Add(ev)
	}
	var got []string
	for _, p := range acc.Response().Message.Parts {
		got = append(got, p.ToolCall.ID)
	}
	if diff := cmp.Diff([]string{"call_K7_0", "call_K7_1"}, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}
