package route

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"testing"
	"time"
)

// estate is a random set of channels, models and contracts.
type estate struct {
	models    []Model
	contracts []Contract
	channels  []string
	tenants   []string
}

func randomEstate(rng *rand.Rand) estate {
	types := []string{"azure", "bedrock", "openai", "anthropic", "gemini"}
	regions := []string{"", "eastus", "westeurope", "eu-central-1", "eu-west-3", "us-east-1", "ap-south-1"}
	var e estate
	type ch struct{ name, typ, region string }
	var chans []ch
	for i := range 3 + rng.IntN(6) {
		c := ch{fmt.Sprintf("ch%d", i), types[rng.IntN(len(types))], regions[rng.IntN(len(regions))]}
		chans = append(chans, c)
		e.channels = append(e.channels, c.name)
	}
	strategies := []string{StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyLowestCost}
	names := []string{"gpt-5", "gpt-4o", "claude-sonnet", "llama-70b", "mistral"}
	for i := range 1 + rng.IntN(len(names)) {
		m := Model{Name: names[i], Aliases: []string{"alias." + names[i]}, Strategy: strategies[rng.IntN(len(strategies))], MaxAttempts: rng.IntN(4)}
		for _, j := range rng.Perm(len(chans))[:1+rng.IntN(len(chans))] {
			c := chans[j]
			m.Offerings = append(m.Offerings, Offering{Provider: c.name, ProviderType: c.typ, Region: c.region, UpstreamModel: "up",
				Weight: float64(rng.IntN(4)), Price: Price{InputPerMTok: float64(rng.IntN(10)), OutputPerMTok: float64(rng.IntN(30))}})
		}
		e.models = append(e.models, m)
	}
	e.tenants = []string{"", "acme", "acme-eu", "bank", "gov"}
	globs := []string{"gpt-*", "claude-*", "*", "alias.*", "llama-70b", "mistral"}
	pick := func(from []string, max int) []string {
		var out []string
		for range rng.IntN(max + 1) {
			out = append(out, from[rng.IntN(len(from))])
		}
		return out
	}
	for i := range rng.IntN(6) {
		ct := Contract{Name: fmt.Sprintf("c%d", i), Match: Match{
			Models:  pick(globs, 2),
			Traffic: []string{"", Stateless, Stateful}[rng.IntN(3)],
			Tenants: pick(e.tenants[1:], 2),
		}}
		if rng.IntN(4) == 0 {
			ct.Commitment = &Commitment{Provider: chans[rng.IntN(len(chans))].name, AmountUSD: float64(1 + rng.IntN(1000)),
				Period: []Period{PeriodDay, PeriodWeek, PeriodMonth}[rng.IntN(3)]}
		} else {
			a := &Allow{Providers: pick(e.channels, 2), ProviderTypes: pick(types, 2), Regions: pick([]string{"eu-*", "us-*", "westeurope", "*"}, 1)}
			if len(a.Providers)+len(a.ProviderTypes)+len(a.Regions) == 0 {
				a.ProviderTypes = []string{types[rng.IntN(len(types))]}
			}
			ct.Allow = a
		}
		e.contracts = append(e.contracts, ct)
	}
	return e
}

// oracleForbidding is an independent statement of exclusivity: an offering
// may serve a request when every exclusivity contract that matches the
// request allows it. It returns the contracts that forbid it.
func oracleForbidding(e *estate, m *Model, in Input, o *Offering) (matched, forbidding []string) {
	traffic := in.Traffic
	if traffic == "" {
		traffic = Stateless
	}
	for _, c := range e.contracts {
		if c.Allow == nil {
			continue
		}
		modelOK := len(c.Match.Models) == 0
		for _, g := range c.Match.Models {
			for _, n := range append([]string{m.Name}, m.Aliases...) {
				if ok, _ := path.Match(g, n); ok {
					modelOK = true
				}
			}
		}
		if !modelOK || c.Match.Traffic != "" && c.Match.Traffic != traffic ||
			len(c.Match.Tenants) > 0 && !slices.Contains(c.Match.Tenants, in.Tenant) {
			continue
		}
		matched = append(matched, c.Name)
		ok := slices.Contains(c.Allow.Providers, o.Provider) || slices.Contains(c.Allow.ProviderTypes, o.ProviderType)
		for _, g := range c.Allow.Regions {
			if m, _ := path.Match(g, o.Region); m && o.Region != "" {
				ok = true
			}
		}
		if !ok {
			forbidding = append(forbidding, c.Name)
		}
	}
	return matched, forbidding
}

func TestProperty_ExclusivityNeverBroken(t *testing.T) {
	const seeds, steps = 40, 2500
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		e := randomEstate(rng)
		clk := newClock(t0)
		cat, err := NewCatalog(e.models)
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(Options{Catalog: cat, Contracts: e.contracts, Now: clk.Now, Rand: rng.Float64,
			Breaker: BreakerOptions{ConsecutiveFailures: 1 + rng.IntN(5), MinRequests: 1 + rng.IntN(20), CoolOff: time.Duration(1+rng.IntN(10)) * time.Second}})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		plans, refusals := 0, 0
		for step := range steps {
			switch k := rng.IntN(10); {
			case k < 4: // an outcome: success, retryable failure, timeout, client error
				o := Outcome{}
				switch rng.IntN(4) {
				case 0:
					o = Outcome{Success: true, TTFB: time.Duration(rng.IntN(500)) * time.Millisecond, Latency: time.Duration(rng.IntN(5000)) * time.Millisecond, CostUSD: rng.Float64()}
				case 1:
					o = Outcome{Retryable: true}
				case 2:
					o = Outcome{Retryable: true, RetryAfter: time.Duration(rng.IntN(30)) * time.Second}
				}
				r.Observe(e.channels[rng.IntN(len(e.channels))], o)
			case k < 5:
				clk.Advance(time.Duration(rng.IntN(15000)) * time.Millisecond)
			default:
				m := &e.models[rng.IntN(len(e.models))]
				name := m.Name
				if rng.IntN(3) == 0 {
					name = m.Aliases[0]
				}
				in := Input{Model: name, Tenant: e.tenants[rng.IntN(len(e.tenants))],
					Traffic:        []string{"", Stateless, Stateful}[rng.IntN(3)],
					EstInputTokens: int64(rng.IntN(5000)), EstOutputTokens: int64(rng.IntN(2000))}
				explain := rng.IntN(5) == 0
				var d *Decision
				if explain {
					d, err = r.Explain(in)
				} else {
					d, err = r.Plan(in)
				}
				plans++
				checkPlan(t, &e, m, in, d, err, fmt.Sprintf("seed %d step %d", seed, step))
				if err != nil {
					refusals++
				}
				// The gateway's attempts report back on what was planned,
				// each with its probe; the probes of channels not tried are
				// handed back unused, or (now and then) lost.
				probes := slices.Clone(d.Probes)
				for _, o := range d.Order {
					var p Probe
					if i := slices.IndexFunc(probes, func(p Probe) bool { return p.Channel == o.Provider }); i >= 0 {
						p = probes[i]
						probes = slices.Delete(probes, i, i+1)
					}
					switch rng.IntN(4) {
					case 0, 1:
						r.Observe(o.Provider, Outcome{Success: rng.IntN(3) > 0, Retryable: true, Probe: p})
					case 2:
						r.Observe(o.Provider, Outcome{Probe: p})
					}
				}
				if len(probes) > 0 {
					t.Fatalf("seed %d step %d: probes %v of channels not in the order %v", seed, step, probes, providers(d.Order))
				}
			}
			if t.Failed() {
				return
			}
		}
		if plans == 0 {
			t.Fatalf("seed %d: no plans", seed)
		}
		t.Logf("seed %d: %d plans, %d refused by contracts", seed, plans, refusals)
	}
}

func checkPlan(t *testing.T, e *estate, m *Model, in Input, d *Decision, err error, at string) {
	t.Helper()
	if d == nil {
		t.Fatalf("%s: no decision (err %v)", at, err)
	}
	matchedAny := false
	allowedAny := false
	for i := range m.Offerings {
		matched, forbidding := oracleForbidding(e, m, in, &m.Offerings[i])
		matchedAny = matchedAny || len(matched) > 0
		allowedAny = allowedAny || len(forbidding) == 0
		c := d.Candidates[i]
		if (len(forbidding) > 0) != (c.Reason == ReasonContract) {
			t.Errorf("%s: %s forbidden by %v, candidate reason %q", at, c.Provider, forbidding, c.Reason)
		}
		if len(forbidding) > 0 && !slices.Equal(forbidding, c.Contracts) {
			t.Errorf("%s: %s forbidden by %v, candidate names %v", at, c.Provider, forbidding, c.Contracts)
		}
	}
	for _, o := range d.Order {
		if _, forbidding := oracleForbidding(e, m, in, &o); len(forbidding) > 0 {
			t.Fatalf("%s: plan for %+v orders %s, which contracts %v forbid", at, in, o.Provider, forbidding)
		}
	}
	if err != nil {
		var ne *NoChannelError
		if !errors.As(err, &ne) || !errors.Is(err, ErrNoChannel) {
			t.Fatalf("%s: error %v is not a NoChannelError", at, err)
		}
		if !matchedAny {
			t.Fatalf("%s: refused without any exclusivity contract: %v", at, err)
		}
		if ne.Unhealthy != allowedAny {
			t.Fatalf("%s: unhealthy %v but allowed offerings exist: %v", at, ne.Unhealthy, allowedAny)
		}
		// A refusal for open breakers says when one will let a probe
		// through: within the longest cool-off.
		if ne.Unhealthy && (ne.RetryAfter <= 0 || ne.RetryAfter > 5*time.Minute) {
			t.Fatalf("%s: refusal with Retry-After %v", at, ne.RetryAfter)
		}
		if len(d.Order) != 0 {
			t.Fatalf("%s: refusal with an order", at)
		}
		return
	}
	if len(d.Order) == 0 || d.MaxAttempts != len(d.Order) || d.MaxAttempts > m.maxAttempts() {
		t.Fatalf("%s: order of %d, max attempts %d, budget %d", at, len(d.Order), d.MaxAttempts, m.maxAttempts())
	}
	inOrder := 0
	for _, c := range d.Candidates {
		if c.Reason == "" {
			inOrder++
		}
	}
	if inOrder != len(d.Order) {
		t.Fatalf("%s: %d candidates without a removal reason, %d in the order", at, inOrder, len(d.Order))
	}
}
