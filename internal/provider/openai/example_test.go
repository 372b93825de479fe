package openai_test

import (
	"fmt"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider/openai"
)

// A front door decodes a client's body strictly, then translates it;
// members without a canonical field ride along for OpenAI channels.
func ExampleRequestToLLM() {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"logit_bias":{"42":-100}}`)
	cr, err := openai.DecodeChatRequest(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	req, err := openai.RequestToLLM(cr)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Model, req.System[0].Text, req.Messages[0].Parts[0].Text, string(req.Passthrough["openai"]["logit_bias"]))

	_, err = openai.DecodeChatRequest([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":7}}]}]}`))
	fmt.Println(err)
	// Output:
	// gpt-4o Be brief. Hi {"42":-100}
	// messages[0].content[0].image_url.url: expected string, got number
}

// A streamed answer is written for an OpenAI client chunk by chunk.
func ExampleStreamEncoder() {
	resp := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("Hi!")}},
		FinishReason: llm.FinishStop,
	}
	enc := openai.NewStreamEncoder("chatcmpl-1", "gpt-4o", time.Unix(1700000000, 0), false)
	for _, ev := range llm.ResponseEvents(resp) {
		payloads, err := enc.Encode(ev)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, p := range payloads {
			fmt.Printf("data: %s\n", p)
		}
	}
	for _, p := range enc.Done() {
		fmt.Printf("data: %s\n", p)
	}
	// Output:
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi!"},"logprobs":null,"finish_reason":null}]}
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}
	// data: [DONE]
}
