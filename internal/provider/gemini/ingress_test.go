package gemini

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider/providertest"
)

// TestRequestToLLM_Golden decodes client bodies and translates them: the
// golden file is the canonical request every channel gets.
func TestRequestToLLM_Golden(t *testing.T) {
	const dir = "testdata/request_to_llm/"
	for _, name := range providertest.Cases(t, dir, ".gemini.json") {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(dir + name + ".gemini.json")
			if err != nil {
				t.Fatal(err)
			}
			cr, err := DecodeGenerateContentRequest(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			req, err := RequestToLLM(cr, "m")
			if err != nil {
				t.Fatalf("RequestToLLM: %v", err)
			}
			providertest.Golden(t, dir+name+".llm.json", req)
		})
	}
}

// TestResponseFromLLM_Golden renders answers for a Gemini client.
func TestResponseFromLLM_Golden(t *testing.T) {
	const dir = "testdata/response_from_llm/"
	for _, name := range providertest.Cases(t, dir, ".llm.json") {
		t.Run(name, func(t *testing.T) {
			var in llm.Response
			providertest.ReadJSON(t, dir+name+".llm.json", &in)
			got, err := ResponseFromLLM(&in, "client-model")
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, dir+name+".gemini.json", got)
		})
	}
}

// TestStreamEncoder_Golden renders the event streams the channel decoder
// produced from Gemini's own streams back as chunks.
func TestStreamEncoder_Golden(t *testing.T) {
	const dir = "testdata/stream/"
	for _, name := range []string{"text", "thinking_then_call", "signature_on_empty_text"} {
		t.Run(name, func(t *testing.T) {
			var in struct{ Events []llm.Event }
			providertest.ReadJSON(t, dir+name+".events.json", &in)
			enc := NewStreamEncoder("client-model", "req-1")
			var chunks []json.RawMessage
			for _, ev := range in.Events {
				out, err := enc.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range out {
					chunks = append(chunks, c)
				}
			}
			providertest.Golden(t, dir+name+".chunks.json", chunks)
		})
	}
}

// TestStreamEncoder_RoundTrip decodes what the encoder wrote with the
// channel's own stream decoder: the same answer comes back.
func TestStreamEncoder_RoundTrip(t *testing.T) {
	for _, name := range []string{"text", "thinking_then_call", "signature_on_empty_text"} {
		t.Run(name, func(t *testing.T) {
			var in struct{ Events []llm.Event }
			providertest.ReadJSON(t, "testdata/stream/"+name+".events.json", &in)
			var want, got llm.Accumulator
			enc := NewStreamEncoder("client-model", "req-1")
			dec := NewStreamDecoder("round-trip", "k")
			for _, ev := range in.Events {
				want.Add(ev)
				chunks, err := enc.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range chunks {
					evs, err := dec.Decode(c)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range evs {
						got.Add(e)
					}
				}
			}
			end, err := dec.End()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range end {
				got.Add(e)
			}
			w, g := want.Response(), got.Response()
			wj, _ := json.Marshal(w.Message)
			gj, _ := json.Marshal(g.Message)
			if string(wj) != string(gj) || w.FinishReason != g.FinishReason || w.Usage != g.Usage {
				t.Errorf("round trip:\n got %s %s %+v\nwant %s %s %+v", gj, g.FinishReason, g.Usage, wj, w.FinishReason, w.Usage)
			}
		})
	}
}

// TestResponse_BackAsHistory sends a rendered answer back as the next
// request's history: the canonical message is what the channel answered.
func TestResponse_BackAsHistory(t *testing.T) {
	var in llm.Response
	providertest.ReadJSON(t, "testdata/response_from_llm/tool_calls_signature.llm.json", &in)
	out, err := ResponseFromLLM(&in, "m")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"contents": []any{
		map[string]any{"role": "user", "parts": []any{map[string]any{"text": "hi"}}},
		out.Candidates[0].Content,
	}})
	cr, err := DecodeGenerateContentRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := RequestToLLM(cr, "m")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(req.Messages[1])
	in.Message.Parts[3].ToolCall.Arguments = `{"city":"Paris"}` // compacted
	want, _ := json.Marshal(in.Message)
	if string(got) != string(want) {
		t.Errorf("history:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeGenerateContentRequest_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
		msg        string
	}{
		{"not_json", `{"contents":`, llm.ErrInvalid, "invalid JSON payload"},
		{"array", `[]`, llm.ErrInvalid, "JSON object"},
		{"contents_type", `{"contents":{}}`, llm.ErrInvalid, "contents"},
		{"text_type", `{"contents":[{"parts":[{"text":1}]}]}`, llm.ErrInvalid, "contents.parts.text"},
		{"no_contents", `{"contents":[]}`, llm.ErrInvalid, "contents"},
		{"bad_role", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, llm.ErrInvalid, "contents[0].role"},
		{"call_in_user_turn", `{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`, llm.ErrInvalid, "functionCall"},
		{"orphan_response", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, llm.ErrInvalid, "answers no earlier call"},
		{"args_not_object", `{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, llm.ErrInvalid, "args"},
		{"audio_in_tool_result", `{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"parts":[{"functionResponse":{"name":"f","response":{},"parts":[{"inlineData":{"mimeType":"audio/wav","data":"AAAA"}}]}}]}]}`, llm.ErrUnsupported, "audio/wav"},
		{"bad_base64", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}`, llm.ErrInvalid, "base64"},
		{"http_file", `{"contents":[{"parts":[{"fileData":{"mimeType":"image/png","fileUri":"http://x/y.png"}}]}]}`, llm.ErrUnsupported, "fileUri"},
		{"schema_without_json", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseSchema":{"type":"STRING"}}}`, llm.ErrInvalid, "responseMimeType"},
		{"bad_schema", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":1}}}`, llm.ErrInvalid, "type"},
		{"bad_mode", `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}`, llm.ErrInvalid, "mode"},
		{"any_without_tools", `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`, llm.ErrInvalid, "ANY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := DecodeGenerateContentRequest([]byte(tc.body))
			if err == nil {
				_, err = RequestToLLM(cr, "m")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v naming %q", err, tc.want, tc.msg)
			}
		})
	}
}

// TestSchemaToJSONSchema_DepthBound refuses a schema nested past the bound
// instead of following it.
func TestSchemaToJSONSchema_DepthBound(t *testing.T) {
	deep := strings.Repeat(`{"type":"ARRAY","items":`, maxSchemaDepth+2) + `{"type":"STRING"}` + strings.Repeat(`}`, maxSchemaDepth+2)
	if _, err := SchemaToJSONSchema(json.RawMessage(deep)); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("err = %v", err)
	}
}

// FuzzDecodeGenerateContentRequest feeds arbitrary bodies to the front
// door's decoder: no panic, failures wrap llm.ErrInvalid or
// llm.ErrUnsupported, and an accepted request can be sent to a Gemini
// channel by translation.
func FuzzDecodeGenerateContentRequest(f *testing.F) {
	addFiles(f, "testdata/request_to_llm/*.gemini.json")
	f.Add([]byte(`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","nullable":true,"anyOf":[{"type":"STRING"}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := DecodeGenerateContentRequest(body)
		if err == nil {
			var req *llm.Request
			req, err = RequestToLLM(cr, "m")
			if err == nil {
				delete(req.Passthrough, Dialect)
				if gr, gerr := RequestFromLLM(req); gerr == nil {
					if _, merr := json.Marshal(gr); merr != nil {
						t.Fatalf("encoding the translation: %v", merr)
					}
				} else if !errors.Is(gerr, llm.ErrInvalid) && !errors.Is(gerr, llm.ErrUnsupported) {
					t.Fatalf("translation failed unclassified: %v", gerr)
				}
				return
			}
		}
		if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

// FuzzDecodeSmallBodies feeds arbitrary bodies to the countTokens and
// embeddings decoders: no panic, and every failure is classified.
func FuzzDecodeSmallBodies(f *testing.F) {
	f.Add([]byte(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	f.Add([]byte(`{"requests":[{"model":"models/m","content":{"parts":[{"text":"x"}]},"outputDimensionality":8}]}`))
	f.Add([]byte(`{"content":{"parts":[{"text":"x"}]},"taskType":"RETRIEVAL_QUERY"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		classified := func(err error) {
			if err != nil && !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
		_, err := DecodeCountTokensRequest(body)
		classified(err)
		for _, batch := range []bool{false, true} {
			reqs, err := DecodeEmbedRequests(body, batch)
			classified(err)
			for i := range reqs {
				_, err := reqs[i].EmbedText("r")
				classified(err)
			}
		}
	})
}
