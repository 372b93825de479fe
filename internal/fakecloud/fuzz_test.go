package fakecloud

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkAnswer runs the simulated model on a normalized conversation and
// checks the invariants every cloud's encoder relies on.
func checkAnswer(t *testing.T, c *conversation) answer {
	t.Helper()
	a := respond(c, "seed")
	if strings.Join(a.textPieces, "") != a.text || strings.Join(a.thinkingPieces, "") != a.thinking {
		t.Fatalf("pieces do not join to the answer: %q %q", a.textPieces, a.text)
	}
	for _, call := range a.calls {
		if strings.Join(call.fragments, "") != call.args || !json.Valid([]byte(call.args)) {
			t.Fatalf("tool call arguments %q", call.args)
		}
	}
	if c.maxTokens > 0 && a.usage.output > c.maxTokens {
		t.Fatalf("output %d over the limit %d", a.usage.output, c.maxTokens)
	}
	if a.usage.input < 1 {
		t.Fatalf("input tokens %d", a.usage.input)
	}
	return a
}

func mustMarshal(t *testing.T, v any) {
	t.Helper()
	if _, err := json.Marshal(v); err != nil {
		t.Fatalf("encoding the answer: %v", err)
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

func FuzzOpenAIConversation(f *testing.F) {
	addSeeds(f,
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"stop":["x"],"messages":[{"role":"system","content":[{"type":"text","text":"s"}]},{"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		`{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":3}},"required":["a"]}}}],"tool_choice":"required","messages":[{"role":"user","content":"call f"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`,
		`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"array","items":{"$ref":"#"}}}},"messages":[{"role":"user","content":"j"}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, req, err := openaiConversation(body)
		if err != nil {
			return
		}
		a := checkAnswer(t, c)
		mustMarshal(t, openaiEncoder{azure: req.Stream}.completion(a))
		if _, _, err := embeddingInputs(body); err == nil {
			t.Fatal("a chat body read as embedding input")
		}
	})
}

func FuzzAnthropicConversation(f *testing.F) {
	addSeeds(f,
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"t"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}`,
		`{"model":"m","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}]}`,
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"b"}]}`,
		`{"model":"m","max_tokens":10,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"d":{"type":"string","format":"date"}},"required":["d"]}}},"messages":[{"role":"user","content":"j"}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, o := range []anthropicOptions{{version: anthropicVersion2023}, {version: anthropicVersion2026, countOnly: true}, {bedrock: true}} {
			c, _, err := anthropicConversation(body, o)
			if err != nil {
				continue
			}
			a := checkAnswer(t, c)
			mustMarshal(t, anthropicResponse(c.model, a))
			if len(c.cachePrefixes()) != len(c.marks) {
				t.Fatalf("%d cache prefixes for %d marks", len(c.cachePrefixes()), len(c.marks))
			}
		}
	})
}

func FuzzBedrockConversation(f *testing.F) {
	addSeeds(f,
		`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		`{"system":[{"text":"s"},{"cachePoint":{"type":"default"}}],"inferenceConfig":{"maxTokens":3,"stopSequences":["x"]},"messages":[{"role":"user","content":[{"text":"t"},{"image":{"format":"png","source":{"bytes":"AAAA"}}}]}]}`,
		`{"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}},{"cachePoint":{"type":"default"}}],"toolChoice":{"any":{}}},"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"json":{"a":1}}],"status":"error"}}]}]}`,
		`{"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2000}},"messages":[{"role":"user","content":[{"text":"r"}]}]}`,
		`{"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\"}"}}}},"messages":[{"role":"user","content":[{"text":"j"}]}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := bedrockConversation(body, "m")
		if err != nil {
			return
		}
		a := checkAnswer(t, c)
		mustMarshal(t, bedrockConverseResponse(a, len(c.marks) > 0))
	})
}

func FuzzGeminiConversation(f *testing.F) {
	addSeeds(f,
		`{"contents":[{"parts":[{"text":"hi"}]}]}`,
		`{"system_instruction":{"parts":[{"text":"s"}]},"generation_config":{"max_output_tokens":3,"thinking_config":{"include_thoughts":true}},"contents":[{"role":"user","parts":[{"text":"t"},{"inline_data":{"mime_type":"image/png","data":"AAAA"}}]}]}`,
		`{"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING"}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}},"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"r"}}}]}]}`,
		`{"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"array","items":{"type":"integer"}}},"contents":[{"parts":[{"text":"j"}]}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, _, err := geminiConversation(body, "m")
		if err != nil {
			return
		}
		a := checkAnswer(t, c)
		e := geminiEncoder{model: "m", a: a, thoughts: geminiIncludeThoughts(body)}
		mustMarshal(t, e.response(e.allParts(), true, a.usage.output, a.usage.reasoning))
	})
}

func FuzzExampleValue(f *testing.F) {
	addSeeds(f,
		weatherSchema,
		`{"$defs":{"n":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"}}},"required":["c"]}},"$ref":"#/$defs/n"}`,
		`{"type":"array","minItems":3,"uniqueItems":true,"items":{"type":"integer","minimum":0,"maximum":1}}`,
		`{"type":"number","exclusiveMinimum":1,"exclusiveMaximum":1.5,"multipleOf":0.1}`,
		`{"allOf":[{"$ref":"#/allOf/1"},{"$ref":"#/allOf/0"}]}`,
		`{"allOf":[{"$ref":"#"}],"anyOf":[{"$ref":"#"}]}`,
		`{"type":"array","minItems":100000,"items":{"type":"array","minItems":100000,"items":{"type":"string","minLength":100000}}}`,
	)
	f.Fuzz(func(t *testing.T, raw []byte) {
		schema, err := decodeSchema(raw, "schema")
		if err != nil || schema == nil {
			return
		}
		v := exampleValue(schema)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encoding %#v: %v", v, err)
		}
		if len(b) > 64*maxGenerated {
			t.Fatalf("%d bytes generated", len(b))
		}
		mustMarshal(t, exampleArgs(schema))
	})
}

func FuzzBedrockCountConversation(f *testing.F) {
	addSeeds(f,
		`{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}`,
		`{"input":{"converse":{"system":[{"text":"s"}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}]},"messages":[{"role":"user","content":[{"text":"x"}]}]}}}`,
		`{"input":{"invokeModel":{"body":"eyJhbnRocm9waWNfdmVyc2lvbiI6ImJlZHJvY2stMjAyMy0wNS0zMSIsIm1heF90b2tlbnMiOjUsIm1lc3NhZ2VzIjpbeyJyb2xlIjoidXNlciIsImNvbnRlbnQiOiJiIn1dfQ=="}}}`,
		`{"input":{}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, model := range []string{"anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-lite-v1:0"} {
			c, err := bedrockCountConversation(body, model)
			if err != nil {
				continue
			}
			if c.inputTokens() < 1 {
				t.Fatalf("input tokens %d", c.inputTokens())
			}
		}
	})
}
