package fakecloud

import (
	"encoding/json"
	"net/http"

	"switchyard/internal/sse"
)

// completionsRequest is the part of a legacy Completions request fakecloud
// reads.
type completionsRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	Stop          json.RawMessage `json:"stop"`
	N             *int            `json:"n"`
	Echo          bool            `json:"echo"`
	Logprobs      *int            `json:"logprobs"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// completionsField reports whether a Completions request may carry a
// top-level field.
func completionsField(k string) bool {
	switch k {
	case "model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "logprobs",
		"echo", "stop", "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user", "seed":
		return true
	}
	return false
}

// azureCompletions serves completions on a deployment route.
func (s *Server) azureCompletions(c *call) error {
	c.rec.Model = c.r.PathValue("deployment")
	if err := c.azureVersion(); err != nil {
		return err
	}
	return s.openaiCompletions(c)
}

// openaiCompletions serves POST completions (the legacy API) for OpenAI
// and Azure: the prompt is the one user turn of a conversation, answered
// as every cloud answers it, in text_completion objects. Echo, n > 1 and
// log probabilities are refused as features fakecloud does not simulate.
func (s *Server) openaiCompletions(c *call) error {
	if err := c.openaiAuth(); err != nil {
		return err
	}
	if err := checkFieldsFunc(c.body, completionsField, "Unrecognized request argument supplied: %s"); err != nil {
		return err
	}
	var req completionsRequest
	if err := decodeJSON(c.body, &req); err != nil {
		return err
	}
	if c.rec.Model == "" {
		c.rec.Model = req.Model
	}
	c.rec.Stream = req.Stream
	var prompt string
	var prompts []string
	switch {
	case json.Unmarshal(req.Prompt, &prompt) == nil:
	case json.Unmarshal(req.Prompt, &prompts) == nil && len(prompts) == 1:
		prompt = prompts[0]
	default:
		return &requestError{msg: "prompt: fakecloud simulates one text prompt (a string or an array of one string)", param: "prompt"}
	}
	switch {
	case c.rec.Model == "":
		return &requestError{msg: "you must provide a model parameter", param: "model"}
	case req.N != nil && *req.N != 1, req.Echo, req.Logprobs != nil:
		return &requestError{msg: "fakecloud does not simulate n > 1, echo or logprobs", param: "n"}
	}
	conv := &conversation{model: c.rec.Model}
	conv.add("user", part{kind: partText, text: prompt})
	if req.MaxTokens != nil {
		conv.maxTokens = *req.MaxTokens
	}
	var stop string
	switch {
	case len(req.Stop) == 0 || string(req.Stop) == "null":
	case json.Unmarshal(req.Stop, &stop) == nil:
		conv.stop = []string{stop}
	case json.Unmarshal(req.Stop, &conv.stop) == nil:
	default:
		return &requestError{msg: "stop: expected a string or an array of strings", param: "stop"}
	}
	if err := c.admit(); err != nil {
		return err
	}
	a := c.respond(conv)
	id, created := "cmpl-"+a.id, c.s.now().Unix()
	finish := openaiFinish(a.finish)
	if !req.Stream {
		if err := c.pace(a.usage.output); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": conv.model,
			"choices": []any{map[string]any{"text": a.text, "index": 0, "logprobs": nil, "finish_reason": finish}},
			"usage":   completionsUsage(a.usage),
		})
		return nil
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	sw := sse.NewWriter(c.w)
	send := func(text string, finish any) error {
		chunk := map[string]any{"id": id, "object": "text_completion", "created": created, "model": conv.model,
			"choices": []any{map[string]any{"text": text, "index": 0, "logprobs": nil, "finish_reason": finish}}}
		if includeUsage {
			chunk["usage"] = nil
		}
		b, err := json.Marshal(chunk)
		if err != nil {
			return err
		}
		if sw.Event("", b) != nil {
			return errClientGone
		}
		return nil
	}
	for _, p := range a.textPieces {
		if err := c.pace(1); err != nil {
			return err
		}
		if err := send(p, nil); err != nil {
			return err
		}
		if c.streamed() {
			c.abortStream()
		}
	}
	if err := send("", finish); err != nil {
		return err
	}
	if includeUsage {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "text_completion", "created": created, "model": conv.model,
			"choices": []any{}, "usage": completionsUsage(a.usage)})
		if sw.Event("", b) != nil {
			return errClientGone
		}
	}
	if sw.Event("", []byte("[DONE]")) != nil {
		return errClientGone
	}
	return nil
}

func completionsUsage(u usage) map[string]any {
	return map[string]any{"prompt_tokens": u.input, "completion_tokens": u.output, "total_tokens": u.input + u.output}
}
