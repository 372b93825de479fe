package usage

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// litellmEntry is one model of the community price map
// (model_prices_and_context_window.json): USD per token.
type litellmEntry struct {
	InputCostPerToken           *float64 `json:"input_cost_per_token"`
	OutputCostPerToken          *float64 `json:"output_cost_per_token"`
	CacheReadInputTokenCost     *float64 `json:"cache_read_input_token_cost"`
	CacheCreationInputTokenCost *float64 `json:"cache_creation_input_token_cost"`
	Provider                    string   `json:"litellm_provider"`
	Mode                        string   `json:"mode"`
}

// litellmChannels maps the price map's providers to channel types.
var litellmChannels = map[string][]string{
	"openai":                     {"openai"},
	"text-completion-openai":     {"openai"},
	"azure":                      {"azure"},
	"azure_text":                 {"azure"},
	"anthropic":                  {"anthropic"},
	"bedrock":                    {"bedrock"},
	"bedrock_converse":           {"bedrock"},
	"gemini":                     {"gemini"},
	"vertex_ai":                  {"vertex"},
	"vertex_ai-language-models":  {"vertex"},
	"vertex_ai-anthropic_models": {"vertex"},
	"vertex_ai-chat-models":      {"vertex"},
	"vertex_ai-embedding-models": {"vertex"},
}

// FromLiteLLM converts the community price map into a catalogue dated
// asOf: every chat, completion and embedding model of a provider a
// channel type serves, with its per-token costs turned into per-million
// rates. A key's path names a region when it has three parts
// ("bedrock/us-east-1/anthropic.claude-..."). It returns how many models
// it skipped (other providers or modes, or no input cost).
func FromLiteLLM(data []byte, asOf, origin string) (*CatalogueFile, int, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, 0, fmt.Errorf("price map %s: %w", origin, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := &CatalogueFile{AsOf: asOf, Currency: "USD", Unit: "per million tokens",
		Note: "Converted from the LiteLLM price map " + origin + "."}
	skipped := 0
	for _, k := range keys {
		var e litellmEntry
		if json.Unmarshal(raw[k], &e) != nil {
			skipped++
			continue
		}
		channels, known := litellmChannels[strings.ToLower(e.Provider)]
		switch {
		case !known, e.InputCostPerToken == nil:
			skipped++
			continue
		case e.Mode != "" && e.Mode != "chat" && e.Mode != "completion" && e.Mode != "embedding" && e.Mode != "responses":
			skipped++
			continue
		}
		parts := strings.Split(k, "/")
		ce := CatalogueEntry{Channels: channels, Model: parts[len(parts)-1],
			InputPerMTok: perMillion(e.InputCostPerToken), OutputPerMTok: perMillion(e.OutputCostPerToken),
			CachedInputPerMTok: perMillion(e.CacheReadInputTokenCost), CacheWritePerMTok: perMillion(e.CacheCreationInputTokenCost),
			Source: "LiteLLM price map " + origin + ", key " + k}
		if len(parts) == 3 {
			ce.Region = parts[1]
		}
		if ce.Model == "" || slices.ContainsFunc([]float64{ce.InputPerMTok, ce.OutputPerMTok, ce.CachedInputPerMTok, ce.CacheWritePerMTok},
			func(r float64) bool { return r < 0 || math.IsNaN(r) || math.IsInf(r, 0) }) {
			skipped++
			continue
		}
		out.Entries = append(out.Entries, ce)
	}
	if len(out.Entries) > maxCatalogueEntries {
		return nil, 0, fmt.Errorf("price map %s: %d models, more than %d", origin, len(out.Entries), maxCatalogueEntries)
	}
	return out, skipped, nil
}

// perMillion turns a per-token cost into a per-million rate, rounded to
// drop the float noise of the multiplication (3e-06 × 1e6 is
// 2.9999999999999996).
func perMillion(perToken *float64) float64 {
	if perToken == nil {
		return 0
	}
	return math.Round(*perToken*1e6*1e9) / 1e9
}
