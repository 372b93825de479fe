package usage

import (
	"math"
	"testing"

	"switchyard/internal/llm"
)

func TestCost(t *testing.T) {
	// Rates chosen to make every term visible: $ per million tokens.
	full := Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, ReasoningPerMTok: 10}
	basic := Price{InputPerMTok: 2, OutputPerMTok: 8}
	for _, tc := range []struct {
		name  string
		usage llm.Usage
		price Price
		want  float64
	}{
		{"zero", llm.Usage{}, full, 0},
		{"free_model", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, Price{}, 0},
		{"input_only", llm.Usage{InputTokens: 1_000_000}, full, 3},
		{"output_only", llm.Usage{OutputTokens: 1_000_000}, full, 15},
		{"plain", llm.Usage{InputTokens: 1000, OutputTokens: 500}, full, (1000*3 + 500*15) / 1e6},
		{"cache_read_discounted", llm.Usage{InputTokens: 1000, CachedInputTokens: 800}, full, (200*3 + 800*0.3) / 1e6},
		{"cache_write_premium", llm.Usage{InputTokens: 1000, CacheWriteTokens: 600}, full, (400*3 + 600*3.75) / 1e6},
		{"cache_read_and_write", llm.Usage{InputTokens: 1000, CachedInputTokens: 300, CacheWriteTokens: 200}, full,
			(500*3 + 300*0.3 + 200*3.75) / 1e6},
		{"reasoning_rate", llm.Usage{OutputTokens: 1000, ReasoningTokens: 400}, full, (600*15 + 400*10) / 1e6},
		{"everything", llm.Usage{InputTokens: 10_000, CachedInputTokens: 4_000, CacheWriteTokens: 1_000, OutputTokens: 2_000, ReasoningTokens: 1_500}, full,
			(5_000*3 + 4_000*0.3 + 1_000*3.75 + 500*15 + 1_500*10) / 1e6},
		// Fallbacks for unset optional rates.
		{"cached_falls_back_to_input", llm.Usage{InputTokens: 1000, CachedInputTokens: 1000}, basic, 1000 * 2 / 1e6},
		{"cache_write_falls_back_to_input_x1.25", llm.Usage{InputTokens: 1000, CacheWriteTokens: 1000}, basic, 1000 * 2.5 / 1e6},
		{"reasoning_falls_back_to_output", llm.Usage{OutputTokens: 1000, ReasoningTokens: 1000}, basic, 1000 * 8 / 1e6},
		// Inconsistent counts: parts are charged, remainders never go negative.
		{"parts_exceed_input", llm.Usage{InputTokens: 100, CachedInputTokens: 80, CacheWriteTokens: 80}, full, (80*0.3 + 80*3.75) / 1e6},
		{"reasoning_exceeds_output", llm.Usage{OutputTokens: 100, ReasoningTokens: 150}, full, 150 * 10 / 1e6},
		{"negative_counts", llm.Usage{InputTokens: -5, OutputTokens: -5, CachedInputTokens: -5, CacheWriteTokens: -5, ReasoningTokens: -5}, full, 0},
		{"large", llm.Usage{InputTokens: 2_000_000_000, OutputTokens: 1_000_000_000}, full, 2000*3 + 1000*15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Cost(tc.usage, tc.price)
			if math.Abs(got-tc.want) > 1e-12*math.Max(1, math.Abs(tc.want)) {
				t.Errorf("Cost(%+v, %+v) = %.12f, want %.12f", tc.usage, tc.price, got, tc.want)
			}
			if got < 0 {
				t.Errorf("negative cost %v", got)
			}
		})
	}
}

func FuzzCost(f *testing.F) {
	f.Add(int64(1000), int64(500), int64(100), int64(50), int64(20))
	f.Add(int64(-1), int64(0), int64(1<<40), int64(0), int64(-7))
	p := Price{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, ReasoningPerMTok: 10}
	f.Fuzz(func(t *testing.T, in, out, cached, write, reasoning int64) {
		u := llm.Usage{InputTokens: in, OutputTokens: out, CachedInputTokens: cached, CacheWriteTokens: write, ReasoningTokens: reasoning}
		c := Cost(u, p)
		if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
			t.Fatalf("Cost(%+v) = %v", u, c)
		}
		// More tokens never cost less.
		more := u
		more.InputTokens = max(in, 0) + 1
		if in < math.MaxInt64-1 && Cost(more, p) < c {
			t.Fatalf("adding an input token lowered the cost: %+v", u)
		}
	})
}
