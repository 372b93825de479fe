// Package usage turns token counts into money and writes the usage ledger:
// Cost prices an llm.Usage, and Writer batches store.UsageRecords into a
// Sink in the background, retrying failed batches and flushing on
// shutdown, so that a request never waits on the database and no record it
// accepted is lost. Only during a long store outage, once its bounded queue
// is full, does it refuse records, and it counts and logs those.
package usage

import "switchyard/internal/llm"

// cacheWritePremium is what a prompt-cache write costs relative to plain
// input when a price does not say: the 1.25× that Anthropic (directly and
// on Bedrock) charges for five-minute cache writes, the only channels that
// report cache writes at all.
const cacheWritePremium = 1.25

// Price is what a model costs, in US dollars per million tokens.
//
// Zero optional rates fall back as follows:
//   - CachedInputPerMTok: InputPerMTok (no discount assumed);
//   - CacheWritePerMTok: InputPerMTok × 1.25;
//   - ReasoningPerMTok: OutputPerMTok (every vendor bills reasoning as
//     output).
//
// The fallbacks never price a token below what the vendor would charge for
// it, so a budget built on them errs on the side of stopping early.
type Price struct {
	InputPerMTok       float64
	OutputPerMTok      float64
	CachedInputPerMTok float64
	CacheWritePerMTok  float64
	ReasoningPerMTok   float64
}

// Cost returns the price of u in US dollars.
//
// Input tokens are split into cache reads (CachedInputTokens, at the cached
// rate), cache writes (CacheWriteTokens, at the cache-write rate) and the
// rest (at the input rate). Output tokens are split into reasoning
// (ReasoningTokens, at the reasoning rate) and the rest (at the output
// rate). Following llm.Usage, the parts are included in their totals; if a
// channel reports parts larger than the total, the parts are charged as
// reported and the remainder counts as zero rather than negative. Negative
// counts count as zero.
func Cost(u llm.Usage, p Price) float64 {
	cachedRate := p.CachedInputPerMTok
	if cachedRate == 0 {
		cachedRate = p.InputPerMTok
	}
	writeRate := p.CacheWritePerMTok
	if writeRate == 0 {
		writeRate = p.InputPerMTok * cacheWritePremium
	}
	reasoningRate := p.ReasoningPerMTok
	if reasoningRate == 0 {
		reasoningRate = p.OutputPerMTok
	}
	cached := max(u.CachedInputTokens, 0)
	writes := max(u.CacheWriteTokens, 0)
	plainIn := max(u.InputTokens-cached-writes, 0)
	reasoning := max(u.ReasoningTokens, 0)
	plainOut := max(u.OutputTokens-reasoning, 0)
	perMillion := float64(plainIn)*p.InputPerMTok +
		float64(cached)*cachedRate +
		float64(writes)*writeRate +
		float64(plainOut)*p.OutputPerMTok +
		float64(reasoning)*reasoningRate
	return perMillion / 1e6
}
