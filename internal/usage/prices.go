package usage

import (
	"sort"
	"strings"
)

// PriceListDate is when the bundled price list was last checked against
// the vendors' published list prices. Configured prices always win.
const PriceListDate = "2026-11-01"

// listPrices are public list prices in USD per million tokens for common
// models, keyed by a normalised model id (see normalise). Channels'
// negotiated prices differ: configure them per offering.
var listPrices = map[string]Price{
	"gpt-5":                  {InputPerMTok: 1.25, OutputPerMTok: 10, CachedInputPerMTok: 0.125},
	"gpt-5-mini":             {InputPerMTok: 0.25, OutputPerMTok: 2, CachedInputPerMTok: 0.025},
	"gpt-5-nano":             {InputPerMTok: 0.05, OutputPerMTok: 0.40, CachedInputPerMTok: 0.005},
	"gpt-4.1":                {InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 0.50},
	"gpt-4.1-mini":           {InputPerMTok: 0.40, OutputPerMTok: 1.60, CachedInputPerMTok: 0.10},
	"gpt-4.1-nano":           {InputPerMTok: 0.10, OutputPerMTok: 0.40, CachedInputPerMTok: 0.025},
	"gpt-4o":                 {InputPerMTok: 2.50, OutputPerMTok: 10, CachedInputPerMTok: 1.25},
	"gpt-4o-mini":            {InputPerMTok: 0.15, OutputPerMTok: 0.60, CachedInputPerMTok: 0.075},
	"o3":                     {InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 0.50},
	"o4-mini":                {InputPerMTok: 1.10, OutputPerMTok: 4.40, CachedInputPerMTok: 0.275},
	"text-embedding-3-small": {InputPerMTok: 0.02},
	"text-embedding-3-large": {InputPerMTok: 0.13},
	"claude-opus-4":          {InputPerMTok: 15, OutputPerMTok: 75, CachedInputPerMTok: 1.50, CacheWritePerMTok: 18.75},
	"claude-sonnet-4":        {InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.30, CacheWritePerMTok: 3.75},
	"claude-haiku-4":         {InputPerMTok: 1, OutputPerMTok: 5, CachedInputPerMTok: 0.10, CacheWritePerMTok: 1.25},
	"claude-3-5-haiku":       {InputPerMTok: 0.80, OutputPerMTok: 4, CachedInputPerMTok: 0.08, CacheWritePerMTok: 1},
	"gemini-2.5-pro":         {InputPerMTok: 1.25, OutputPerMTok: 10, CachedInputPerMTok: 0.31},
	"gemini-2.5-flash":       {InputPerMTok: 0.30, OutputPerMTok: 2.50, CachedInputPerMTok: 0.075},
	"gemini-2.5-flash-lite":  {InputPerMTok: 0.10, OutputPerMTok: 0.40, CachedInputPerMTok: 0.025},
}

// listKeys holds the list's keys, longest first, for prefix matching.
var listKeys = func() []string {
	keys := make([]string, 0, len(listPrices))
	for k := range listPrices {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	return keys
}()

// ListPrice returns the bundled list price of the first of names that it
// knows: an exact match of the normalised id, else the longest known
// prefix ending at a word boundary ("claude-sonnet-4-5-20250929" is priced
// as claude-sonnet-4, "gpt-4o-mini-2024-07-18" as gpt-4o-mini).
func ListPrice(names ...string) (Price, bool) {
	for _, name := range names {
		n := normalise(name)
		if p, ok := listPrices[n]; ok {
			return p, true
		}
		for _, k := range listKeys {
			if strings.HasPrefix(n, k) && (len(n) == len(k) || n[len(k)] == '-' || n[len(k)] == '@') {
				return listPrices[k], true
			}
		}
	}
	return Price{}, false
}

// normalise strips what channels add to a model id: Bedrock's
// cross-region prefix ("us.", "eu.", "global."), the vendor prefix
// ("anthropic.", "openai.") and version suffix ("-v1:0"), an ARN's path,
// and a "models/" prefix.
func normalise(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	for _, p := range []string{"us.", "eu.", "apac.", "global.", "us-gov."} {
		id = strings.TrimPrefix(id, p)
	}
	for _, p := range []string{"anthropic.", "openai.", "google."} {
		id = strings.TrimPrefix(id, p)
	}
	if i := strings.Index(id, "-v"); i >= 0 && strings.Contains(id[i:], ":") {
		id = id[:i]
	}
	return id
}
