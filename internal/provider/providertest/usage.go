package providertest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

// usage_kinds: prompt-cache writes and reads, and reasoning tokens, are
// reported where the cloud reports them, streamed or not.
func (s *suite) usageKinds(t *testing.T) {
	t.Run("prompt_cache", s.promptCache)
	t.Run("reasoning", s.reasoning)
}

// promptCache sends the same request three times with a cache hint on a
// long system prompt: the first call writes the cache, the next ones
// (non-streamed and streamed) read it.
func (s *suite) promptCache(t *testing.T) {
	if s.cloud.noPromptCache != "" {
		t.Skipf("%s: %s", s.cloud.name, s.cloud.noPromptCache)
	}
	_, p := s.channel(t)
	system := strings.Repeat("You answer questions about lighthouses, their keepers and their lamps. ", 40)
	req := s.request(user(llm.Text("Which lighthouse is the oldest?")))
	req.System = []llm.Part{{Kind: llm.PartText, Text: system, CacheHint: true}}

	write := chat(t, p, req).Usage
	if write.CacheWriteTokens <= 0 || write.CachedInputTokens != 0 {
		t.Fatalf("first call: usage %+v, want cache-write tokens and no cached tokens", write)
	}
	if write.InputTokens < write.CacheWriteTokens+1 {
		t.Errorf("first call: usage %+v: input tokens must include the cache writes and the uncached question", write)
	}
	read := llm.Usage{
		InputTokens:       write.InputTokens,
		OutputTokens:      write.OutputTokens,
		CachedInputTokens: write.CacheWriteTokens,
	}
	if diff := cmp.Diff(read, chat(t, p, req).Usage); diff != "" {
		t.Errorf("second call: usage (-want +got):\n%s", diff)
	}
	_, resp := chatStream(t, p, req)
	if diff := cmp.Diff(read, resp.Usage); diff != "" {
		t.Errorf("streamed call: usage (-want +got):\n%s", diff)
	}
}

// reasoning asks for a thinking budget: reasoning tokens are counted, as
// part of the output tokens.
func (s *suite) reasoning(t *testing.T) {
	if s.cloud.noReasoningTokens != "" {
		t.Skipf("%s: %s", s.cloud.name, s.cloud.noReasoningTokens)
	}
	_, p := s.channel(t)
	req := s.request(user(llm.Text("Why is the sky blue?")))
	req.Reasoning = &llm.Reasoning{BudgetTokens: 2048}
	req.MaxTokens = 8192
	u := chat(t, p, req).Usage
	if u.ReasoningTokens <= 0 || u.OutputTokens <= u.ReasoningTokens {
		t.Errorf("usage %+v: want reasoning tokens, counted within more output tokens", u)
	}
	_, resp := chatStream(t, p, req)
	if diff := cmp.Diff(u, resp.Usage); diff != "" {
		t.Errorf("streamed usage differs from the non-streamed one (-chat +stream):\n%s", diff)
	}
}
