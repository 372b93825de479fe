package openai

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// textAnswers are answers decodeTextAnswer reads itself.
var textAnswers = []string{
	`{"id":"chatcmpl-1","object":"chat.completion","created":1733000000,"model":"gpt-4o-mini-2024-07-18",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there.","refusal":null,"annotations":[]},` +
		`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":3,"total_tokens":17,` +
		`"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":1}},` +
		`"service_tier":"default","system_fingerprint":"fp_1"}`,
	"{ \"choices\" : [ { \"message\" : { \"content\" : \"a \\\"q\\\" \\u00e9 \u00e9\\n\" } } ] }",
	`{"choices":[{"message":{"content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`,
	`{"choices":[{"message":{"content":"x","audio":null,"reasoning_content":"thinking","reasoning":null,"function_call":null,"tool_calls":null}}],"usage":null,"error":null}`,
	`{"x_vendor":{"Model":1},"choices":[{"message":{"content":""},"index":null,"x":[1,2]}],"id":null,"created":null}`,
	`{"choices":[{"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
}

// otherAnswers take json.Unmarshal.
var otherAnswers = []string{
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}]}`,
	`{"error":{"message":"no"}}`,
	`{"choices":[]}`,
	`{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}]}`,
	`{"Model":"x","choices":[{"message":{"content":"a"}}]}`,
	`{"model":"x","model":"y","choices":[{"message":{"content":"a"}}]}`,
	`{"choices":[{"message":{"content":"a","Content":"b"}}]}`,
	`{"choices":[{"message":{"content":1}}]}`,
	`{"choices":[{"message":{"content":"a"}}],"created":"yesterday"}`,
	`{"choices":[{"message":{"content":"a"}}],"created":1.5}`,
	`{"choices":[{"message":{"content":"a"},"index":"0"}]}`,
	`{"id":"x"}`,
	`{"choices":[{"message":{"content":"a"}}]`,
	`{"choices":[{"message":{"content":"a"}}]} x`,
	`{"choices":[{"message":{"content":"\xff"}}]}`,
	`[]`,
}

func TestDecodeTextAnswer(t *testing.T) {
	for _, body := range textAnswers {
		var lean ChatResponse
		if !decodeTextAnswer([]byte(body), &lean) {
			t.Errorf("refused %s", body)
			continue
		}
		var want ChatResponse
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, lean); diff != "" {
			t.Errorf("%s: (-json.Unmarshal +decodeTextAnswer):\n%s", body, diff)
		}
	}
	for _, body := range otherAnswers {
		if decodeTextAnswer([]byte(body), new(ChatResponse)) {
			t.Errorf("accepted %s", body)
		}
	}
}

// FuzzDecodeTextAnswer checks that whatever decodeTextAnswer accepts,
// json.Unmarshal decodes too, to the same value.
func FuzzDecodeTextAnswer(f *testing.F) {
	for _, s := range append(append([]string(nil), textAnswers...), otherAnswers...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var lean ChatResponse
		if !decodeTextAnswer(body, &lean) {
			return
		}
		var want ChatResponse
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("accepted what json.Unmarshal refuses (%v): %q", err, body)
		}
		if diff := cmp.Diff(want, lean); diff != "" {
			t.Errorf("%q: (-json.Unmarshal +decodeTextAnswer):\n%s", body, diff)
		}
	})
}
