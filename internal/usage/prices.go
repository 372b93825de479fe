package usage

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// builtinCatalogue is the price catalogue shipped in the binary: list
// prices by channel type, model and (where they differ) region, each with
// where the figure came from. `switchyard prices update` writes files of
// the same form.
//
//go:embed catalogue.json
var builtinCatalogue []byte

// CatalogueFile is a price catalogue as JSON.
type CatalogueFile struct {
	// AsOf is the date the prices were checked (YYYY-MM-DD).
	AsOf     string `json:"as_of"`
	Currency string `json:"currency,omitempty"`
	Unit     string `json:"unit,omitempty"`
	Note     string `json:"note,omitempty"`
	// Entries are the prices, in USD per million tokens.
	Entries []CatalogueEntry `json:"entries"`
}

// CatalogueEntry is the list price of one model on some channel types.
type CatalogueEntry struct {
	// Channels are the channel types (openai, azure, anthropic, bedrock,
	// gemini, vertex, openai-compatible) that bill the model at this price.
	Channels []string `json:"channels"`
	// Model is the model id without what channels add to it (Bedrock's
	// vendor prefix and version suffix, Vertex's @date): it matches a
	// channel's model id exactly or as a prefix ending at "-" or "@".
	Model string `json:"model"`
	// Region, when set, limits the entry to channels in that region; an
	// entry without one applies elsewhere.
	Region             string  `json:"region,omitempty"`
	InputPerMTok       float64 `json:"input_per_mtok"`
	OutputPerMTok      float64 `json:"output_per_mtok"`
	CachedInputPerMTok float64 `json:"cached_input_per_mtok,omitempty"`
	CacheWritePerMTok  float64 `json:"cache_write_per_mtok,omitempty"`
	// Source says where the figure came from.
	Source string `json:"source"`
}

// Price is the entry's rates.
func (e CatalogueEntry) Price() Price {
	return Price{InputPerMTok: e.InputPerMTok, OutputPerMTok: e.OutputPerMTok,
		CachedInputPerMTok: e.CachedInputPerMTok, CacheWritePerMTok: e.CacheWritePerMTok}
}

// Catalogue looks list prices up. It is immutable once built and safe for
// concurrent use.
type Catalogue struct {
	// Origin names the catalogue in listings: "built-in" or a file name.
	Origin string
	AsOf   string
	// byModel holds the entries by normalised model id; keys lists the
	// ids longest first, for prefix matching.
	byModel map[string][]CatalogueEntry
	keys    []string
}

// maxCatalogueEntries bounds a catalogue file.
const maxCatalogueEntries = 100000

// ParseCatalogue reads a catalogue file. origin names it in listings and
// errors.
func ParseCatalogue(data []byte, origin string) (*Catalogue, error) {
	var f CatalogueFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("price catalogue %s: %w", origin, err)
	}
	if f.AsOf == "" {
		return nil, fmt.Errorf("price catalogue %s: as_of is required", origin)
	}
	if len(f.Entries) > maxCatalogueEntries {
		return nil, fmt.Errorf("price catalogue %s: %d entries, more than %d", origin, len(f.Entries), maxCatalogueEntries)
	}
	c := &Catalogue{Origin: origin, AsOf: f.AsOf, byModel: map[string][]CatalogueEntry{}}
	var errs []error
	for i, e := range f.Entries {
		rates := []float64{e.InputPerMTok, e.OutputPerMTok, e.CachedInputPerMTok, e.CacheWritePerMTok}
		switch {
		case e.Model == "":
			errs = append(errs, fmt.Errorf("entries[%d]: model is required", i))
		case len(e.Channels) == 0:
			errs = append(errs, fmt.Errorf("entries[%d] (%s): channels is required", i, e.Model))
		case slices.ContainsFunc(rates, func(r float64) bool { return r < 0 || math.IsNaN(r) || math.IsInf(r, 0) }):
			errs = append(errs, fmt.Errorf("entries[%d] (%s): rates must be finite and not negative", i, e.Model))
		default:
			k := normalise(e.Model)
			c.byModel[k] = append(c.byModel[k], e)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("price catalogue %s: %w", origin, errors.Join(errs...))
	}
	for k := range c.byModel {
		c.keys = append(c.keys, k)
	}
	slices.SortFunc(c.keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return c, nil
}

// BuiltinCatalogue returns the catalogue built into the binary.
func BuiltinCatalogue() *Catalogue {
	c, err := ParseCatalogue(builtinCatalogue, "built-in")
	if err != nil {
		// The file is part of the source and checked by its tests.
		panic(err)
	}
	return c
}

// Lookup returns the entry for the first of names that the catalogue
// prices on a channel of type channel in region: the model id exactly,
// else the longest entry that is a prefix of it ending at a word boundary
// ("claude-sonnet-4-5@20250929" is priced as claude-sonnet-4-5,
// "gpt-4o-mini-2024-07-18" as gpt-4o-mini). Among a model's entries, one
// for region wins over one for every region.
func (c *Catalogue) Lookup(channel, region string, names ...string) (CatalogueEntry, bool) {
	for _, name := range names {
		if e, n := c.match(channel, region, normalise(name)); n > 0 {
			return e, true
		}
	}
	return CatalogueEntry{}, false
}

// match returns the entry for a normalised model id and the length of
// the key it matched, 0 for none.
func (c *Catalogue) match(channel, region, n string) (CatalogueEntry, int) {
	if c == nil || n == "" {
		return CatalogueEntry{}, 0
	}
	if e, ok := c.pick(n, channel, region); ok {
		return e, len(n)
	}
	for _, k := range c.keys {
		if len(k) < len(n) && strings.HasPrefix(n, k) && (n[len(k)] == '-' || n[len(k)] == '@') {
			if e, ok := c.pick(k, channel, region); ok {
				return e, len(k)
			}
		}
	}
	return CatalogueEntry{}, 0
}

// pick chooses among one model's entries.
func (c *Catalogue) pick(key, channel, region string) (CatalogueEntry, bool) {
	var anywhere CatalogueEntry
	found := false
	for _, e := range c.byModel[key] {
		if !slices.Contains(e.Channels, channel) {
			continue
		}
		if e.Region != "" && e.Region == region {
			return e, true
		}
		if e.Region == "" && !found {
			anywhere, found = e, true
		}
	}
	return anywhere, found
}

// PriceSource says where a price came from.
type PriceSource struct {
	// Kind is "offering", "file", "catalogue", "free" or "" (unpriced).
	Kind string
	// Origin is the file or "built-in"; AsOf the catalogue's date.
	Origin, AsOf string
	// Entry is the catalogue entry, for file and catalogue prices.
	Entry CatalogueEntry
}

// String describes the source for listings.
func (s PriceSource) String() string {
	switch s.Kind {
	case "offering":
		return "offering"
	case "free":
		return "offering (free)"
	case "file", "catalogue":
		return fmt.Sprintf("%s %s (as of %s, %s)", s.Kind, s.Origin, s.AsOf, s.Entry.Model)
	}
	return "unpriced"
}

// PriceBook decides what an offering costs: its own configured price,
// else the configured catalogue file's, else the built-in catalogue's.
// The router's lowest-cost strategy and the ledger both take the price
// it decides.
type PriceBook struct {
	File    *Catalogue // may be nil
	BuiltIn *Catalogue
}

// Resolve returns the price of a model on a channel of type channel in
// region. configured is the offering's own price; free marks an offering
// priced at zero on purpose. names are the ids to look up, most specific
// first (the upstream model, then the client-facing name).
func (b *PriceBook) Resolve(configured Price, free bool, channel, region string, names ...string) (Price, PriceSource) {
	switch {
	case free:
		return Price{}, PriceSource{Kind: "free"}
	case configured != (Price{}):
		return configured, PriceSource{Kind: "offering"}
	}
	// For each name, the catalogue that knows the model more precisely
	// wins, so that a file pricing gpt-4o does not price gpt-4o-mini by
	// prefix when the built-in catalogue knows it by name; on a tie the
	// file wins.
	for _, name := range names {
		n := normalise(name)
		fe, fl := b.File.match(channel, region, n)
		be, bl := b.BuiltIn.match(channel, region, n)
		switch {
		case fl > 0 && fl >= bl:
			return fe.Price(), PriceSource{Kind: "file", Origin: b.File.Origin, AsOf: b.File.AsOf, Entry: fe}
		case bl > 0:
			return be.Price(), PriceSource{Kind: "catalogue", Origin: b.BuiltIn.Origin, AsOf: b.BuiltIn.AsOf, Entry: be}
		}
	}
	return Price{}, PriceSource{}
}

// normalise strips what channels add to a model id: Bedrock's
// cross-region prefix ("us.", "eu.", "global."), the vendor prefix
// ("anthropic.", "amazon.", "meta."...) and version suffix ("-v1:0"), an
// ARN's or resource name's path, and a "models/" prefix.
func normalise(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	for _, p := range []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au."} {
		id = strings.TrimPrefix(id, p)
	}
	for _, p := range []string{"anthropic.", "openai.", "google.", "amazon.", "meta.", "mistral.", "cohere."} {
		id = strings.TrimPrefix(id, p)
	}
	if i := strings.Index(id, "-v"); i >= 0 && strings.Contains(id[i:], ":") {
		id = id[:i]
	}
	return id
}
