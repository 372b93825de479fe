// Package route decides which channel serves a request: the model catalog
// (client-facing names and aliases → offerings on channels), the strategy
// that orders the offerings, and the per-channel state (cool-downs after a
// rate limit) that removes a channel for a while. Every decision is a
// Decision value that can be logged, put in a header and explained.
package route

import (
	"fmt"
	"sort"
)

// Offering is one channel's offer of a model.
type Offering struct {
	// Provider is the channel's configured name; ProviderType its type
	// (azure, bedrock, ...) and Region its region, for contracts.
	Provider     string
	ProviderType string
	Region       string
	// UpstreamModel is the model id on that channel.
	UpstreamModel string
	Price         Price
	Weight        float64
}

// Price is USD per million tokens.
type Price struct {
	InputPerMTok, OutputPerMTok, CachedInputPerMTok, CacheWritePerMTok, ReasoningPerMTok float64
}

// Model is a client-facing model.
type Model struct {
	Name        string
	Aliases     []string
	Offerings   []Offering
	Strategy    string
	MaxAttempts int
}

// Catalog maps client-facing names and aliases to models. It is built once
// per configuration and read-only afterwards.
type Catalog struct {
	models []*Model
	byName map[string]*Model
}

// NewCatalog indexes models by name and alias; a name used twice is an
// error.
func NewCatalog(models []Model) (*Catalog, error) {
	c := &Catalog{byName: map[string]*Model{}}
	for i := range models {
		m := &models[i]
		c.models = append(c.models, m)
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			if _, dup := c.byName[n]; dup {
				return nil, fmt.Errorf("model name %q used twice", n)
			}
			c.byName[n] = m
		}
	}
	return c, nil
}

// Lookup finds a model by name or alias.
func (c *Catalog) Lookup(name string) (*Model, bool) {
	m, ok := c.byName[name]
	return m, ok
}

// Models lists the models in configuration order.
func (c *Catalog) Models() []*Model { return c.models }

// Names lists every client-facing name, aliases included, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.byName))
	for n := range c.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
