// Package route decides which channel serves a request. It owns the model
// catalog (client-facing names and aliases → offerings on channels), the
// contracts that restrict and steer traffic (exclusivity, residency, spend
// commitments), the per-channel health (circuit breakers, Retry-After
// cool-downs, latency averages, spend tallies) and the strategies that
// order what is left (priority, weighted, least-latency, lowest-cost).
//
// Every decision is a Decision value that records each candidate, why it
// was removed, the final order and the contracts that shaped it, so it can
// be logged, put in a header and explained.
package route

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Routing strategies, the values of Model.Strategy.
const (
	// StrategyPriority tries offerings in configured order.
	StrategyPriority = "priority"
	// StrategyWeighted draws the first choice by weight, then the
	// fallbacks the same way from the offerings left.
	StrategyWeighted = "weighted"
	// StrategyLeastLatency prefers the channel with the lowest average time
	// to first byte, exploring the others now and then.
	StrategyLeastLatency = "least_latency"
	// StrategyLowestCost prefers the offering whose price for the expected
	// tokens is lowest.
	StrategyLowestCost = "lowest_cost"
)

// Offering is one channel's offer of a model.
type Offering struct {
	// Provider is the channel's configured name; ProviderType its type
	// (azure, bedrock, ...) and Region its region, for contracts.
	Provider     string `json:"provider"`
	ProviderType string `json:"provider_type,omitempty"`
	Region       string `json:"region,omitempty"`
	// UpstreamModel is the model id on that channel.
	UpstreamModel string `json:"upstream_model"`
	Price         Price  `json:"price,omitzero"`
	// Weight is the offering's share under the weighted strategy; zero
	// means 1, as in the configuration.
	Weight float64 `json:"weight,omitempty"`
}

// Price is USD per million tokens.
type Price struct {
	InputPerMTok       float64 `json:"input_per_mtok,omitempty"`
	OutputPerMTok      float64 `json:"output_per_mtok,omitempty"`
	CachedInputPerMTok float64 `json:"cached_input_per_mtok,omitempty"`
	CacheWritePerMTok  float64 `json:"cache_write_per_mtok,omitempty"`
	ReasoningPerMTok   float64 `json:"reasoning_per_mtok,omitempty"`
}

// Model is a client-facing model.
type Model struct {
	Name      string
	Aliases   []string
	Offerings []Offering
	// Strategy is one of the Strategy constants; empty means priority.
	Strategy string
	// MaxAttempts bounds the attempts of one request across offerings.
	// Zero means the number of offerings, at most 3.
	MaxAttempts int
	// PerAttemptTimeout bounds one attempt on one channel; zero leaves it
	// to the channel's own timeout.
	PerAttemptTimeout time.Duration
}

// defaultMaxAttempts is the attempt budget of a model that sets none.
const defaultMaxAttempts = 3

// Catalog maps client-facing names and aliases to models. It is built once
// per configuration and read-only afterwards.
type Catalog struct {
	models []*Model
	byName map[string]int // name or alias → index in models
}

// NewCatalog indexes models by name and alias. It copies models, so the
// caller may reuse the slice. A name used twice, a model without
// offerings, an unknown strategy or a negative weight, attempt budget or
// timeout is an error.
func NewCatalog(models []Model) (*Catalog, error) {
	c := &Catalog{models: make([]*Model, 0, len(models)), byName: make(map[string]int, len(models))}
	for i := range models {
		m := models[i]
		m.Aliases = append([]string(nil), m.Aliases...)
		m.Offerings = append([]Offering(nil), m.Offerings...)
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			if _, dup := c.byName[n]; dup {
				return nil, fmt.Errorf("model name %q used twice", n)
			}
			c.byName[n] = len(c.models)
		}
		c.models = append(c.models, &m)
	}
	return c, nil
}

func (m *Model) check() error {
	if m.Name == "" {
		return errors.New("name required")
	}
	if len(m.Offerings) == 0 {
		return errors.New("no offerings")
	}
	switch m.Strategy {
	case "", StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyLowestCost:
	default:
		return fmt.Errorf("unknown strategy %q", m.Strategy)
	}
	if m.MaxAttempts < 0 {
		return fmt.Errorf("negative max attempts %d", m.MaxAttempts)
	}
	if m.PerAttemptTimeout < 0 {
		return fmt.Errorf("negative per-attempt timeout %v", m.PerAttemptTimeout)
	}
	for _, o := range m.Offerings {
		if o.Provider == "" {
			return errors.New("offering without provider")
		}
		if o.Weight < 0 {
			return fmt.Errorf("offering on %q: negative weight %v", o.Provider, o.Weight)
		}
	}
	return nil
}

// strategy returns the model's strategy with the default applied.
func (m *Model) strategy() string {
	if m.Strategy == "" {
		return StrategyPriority
	}
	return m.Strategy
}

// EffectiveStrategy is the strategy the router applies to the model (the
// default when none is configured), for listings.
func (m *Model) EffectiveStrategy() string { return m.strategy() }

// AttemptBudget is the number of offerings the router may try for one
// request, with the default applied, for listings.
func (m *Model) AttemptBudget() int { return m.maxAttempts() }

// maxAttempts returns the model's attempt budget with the default applied.
func (m *Model) maxAttempts() int {
	if m.MaxAttempts > 0 {
		return m.MaxAttempts
	}
	return min(defaultMaxAttempts, len(m.Offerings))
}

// Lookup finds a model by name or alias.
func (c *Catalog) Lookup(name string) (*Model, bool) {
	i, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	return c.models[i], true
}

// index finds a model's position by name or alias.
func (c *Catalog) index(name string) (int, bool) {
	i, ok := c.byName[name]
	return i, ok
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
