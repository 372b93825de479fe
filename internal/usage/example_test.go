package usage_test

import (
	"fmt"

	"switchyard/internal/llm"
	"switchyard/internal/usage"
)

func ExampleCost() {
	// A Claude-style price: cache reads at a tenth of input, cache writes
	// at 1.25× (the fallback), reasoning billed as output.
	price := usage.Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.30}
	u := llm.Usage{InputTokens: 12_000, CachedInputTokens: 10_000, CacheWriteTokens: 1_000, OutputTokens: 800, ReasoningTokens: 300}
	fmt.Printf("$%.6f\n", usage.Cost(u, price))
	// Output: $0.021750
}
