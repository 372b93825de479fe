package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// ContractReport is `usage -by contract`: traffic and spend per contract,
// and each commitment's spend against its pacing line.
type ContractReport struct {
	Since       time.Time            `json:"since"`
	Until       time.Time            `json:"until"`
	Contracts   []store.UsageSummary `json:"contracts"`
	Commitments []CommitmentForecast `json:"commitments"`
}

// Violation is a request carried by a channel outside a contract's
// allowance.
type Violation struct {
	RequestID string `json:"request_id"`
	Time      string `json:"time"`
	Tenant    string `json:"tenant"`
	Model     string `json:"model"`
	Traffic   string `json:"traffic"`
	// Provider is the channel that carried the request: the one that
	// served it, or one it was attempted on.
	Provider string `json:"provider"`
	// Status is the request's status; a failed request still reached the
	// channels it was attempted on.
	Status    int      `json:"status"`
	Contracts []string `json:"contracts"`
}

// ComplianceReport lists requests carried by a channel that an
// exclusivity contract that applied to them does not allow. Violations
// must always be empty; compliance documents how each request is judged.
type ComplianceReport struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Checked counts the requests that reached a channel.
	Checked    int64       `json:"checked"`
	Violations []Violation `json:"violations"`
	// Unrecorded lists requests that a contract matching them now would
	// forbid, but that contract is not among those recorded as applying
	// when they were routed: it was added or its match widened since.
	Unrecorded []Violation `json:"unrecorded"`
	// Unjudged counts requests whose recorded contract or channel is no
	// longer configured, so they could not be checked.
	Unjudged int64 `json:"unjudged"`
}

// reports answers the admin API's and the CLI's contract, commitment,
// budget and compliance reports from the ledger and the current contracts
// and limits.
func reports(st *sqlstore.Store, router func() *route.Router) func(ctx context.Context, name string, since, until time.Time) (any, error) {
	return func(ctx context.Context, name string, since, until time.Time) (any, error) {
		r := router()
		switch name {
		case "commitment":
			return commitmentForecasts(ctx, st, r, time.Now())
		case "budget":
			return budgetForecasts(ctx, st, time.Now())
		case "contract":
			sums, err := st.SumUsage(ctx, store.UsageFilter{Since: since, Until: until}, store.GroupContract)
			if err != nil {
				return nil, err
			}
			cs, err := commitmentForecasts(ctx, st, r, time.Now())
			if err != nil {
				return nil, err
			}
			return ContractReport{Since: since.UTC(), Until: until.UTC(), Contracts: nonNil(sums), Commitments: cs}, nil
		case "compliance":
			return compliance(ctx, st, r, since, until)
		}
		return nil, fmt.Errorf("unknown report %q", name)
	}
}

// compliance re-checks the requests in the window against the
// exclusivity contracts.
//
// Which requests: every ledger row that reached a channel, whatever its
// status. A request's content reaches each channel it is attempted on, so
// an attempt that failed before a fallback, a stream cut after its first
// bytes (recorded with a 5xx status) and a request its client abandoned
// (499) are all checked, on every channel the row's route lists as
// attempted (or, for a row without a route, the channel it names). A row
// with no attempt (refused by a limit, a budget or routing) carried
// nothing and is skipped.
//
// Against which contracts: a routed row records the contracts that
// applied to it. Each recorded exclusivity contract is judged by its
// current allow list (the record keeps names, not lists, so a list
// narrowed since can flag a request that was allowed when served). A
// contract that matches the row now but is not in its record did not
// apply when it was routed; what it would forbid goes to Unrecorded, not
// Violations. A row without a route is judged by the current contracts
// alone. A recorded contract, or an attempted channel, that is no longer
// configured leaves the row Unjudged.
//
// Requests are judged a route at a time: the ledger counts its records
// per tenant, model, traffic class, channel, route and contract list in
// one query, each distinct route is judged once, and only the records of
// a route found wanting are read one by one, to list them.
func compliance(ctx context.Context, st *sqlstore.Store, r *route.Router, since, until time.Time) (*ComplianceReport, error) {
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	contracts := map[string]route.Contract{}
	for _, c := range r.Contracts() {
		contracts[c.Name] = c
	}
	type key struct{ model, tenant, traffic string }
	plans := map[key]*route.Decision{}
	rep := &ComplianceReport{Since: since.UTC(), Until: until.UTC(), Violations: []Violation{}, Unrecorded: []Violation{}}
	routes, err := st.SumUsageRoutes(ctx, since, until)
	if err != nil {
		return nil, err
	}
	for _, g := range routes {
		attempted, recorded := route.ParseHeader(g.Route)
		if len(g.Contracts) > 0 {
			recorded = g.Contracts
		}
		if g.Route == "" && g.Provider != "" {
			attempted = []string{g.Provider}
		}
		if len(attempted) == 0 {
			continue // no channel saw these requests
		}
		rep.Checked += g.Requests
		k := key{g.Model, names[g.TenantID], g.Traffic}
		d, ok := plans[k]
		if !ok {
			d, _ = r.Explain(route.Input{Model: k.model, Tenant: k.tenant, Traffic: k.traffic})
			plans[k] = d
		}
		// What each attempted channel broke, for every request of the route.
		type finding struct {
			channel      string
			broke, later []string
		}
		var found []finding
		unjudged := false
		for i, ch := range attempted {
			if slices.Contains(attempted[:i], ch) {
				continue // tried twice (two offerings on one channel): judged once
			}
			var broke, later []string
			if g.Route != "" {
				for _, name := range recorded {
					c, ok := contracts[name]
					switch {
					case !ok:
						unjudged = true
					case c.Allow == nil:
						// A commitment: it steers, it does not forbid.
					default:
						switch allowed, known := allows(r, c.Allow, g.Model, ch); {
						case !known:
							unjudged = true
						case !allowed:
							broke = append(broke, name)
						}
					}
				}
			}
			for _, name := range forbidding(d, ch) {
				switch {
				case g.Route == "":
					broke = append(broke, name)
				case !slices.Contains(recorded, name):
					later = append(later, name)
				}
			}
			if len(broke) > 0 || len(later) > 0 {
				found = append(found, finding{ch, broke, later})
			}
		}
		if unjudged {
			rep.Unjudged += g.Requests
		}
		if len(found) == 0 {
			continue
		}
		f := store.UsageFilter{Since: since, Until: until, TenantID: g.TenantID, Model: g.Model, Provider: g.Provider}
		err := st.ScanUsage(ctx, f, func(rec store.UsageRecord) error {
			if rec.Traffic != g.Traffic || rec.Route != g.Route || !slices.Equal(rec.Contracts, g.Contracts) {
				return nil
			}
			v := Violation{RequestID: rec.RequestID, Time: rec.CreatedAt.UTC().Format(time.RFC3339), Tenant: k.tenant,
				Model: rec.Model, Traffic: rec.Traffic, Status: rec.Status}
			for _, fd := range found {
				if len(fd.broke) > 0 {
					v.Provider, v.Contracts = fd.channel, fd.broke
					rep.Violations = append(rep.Violations, v)
				}
				if len(fd.later) > 0 {
					v.Provider, v.Contracts = fd.channel, fd.later
					rep.Unrecorded = append(rep.Unrecorded, v)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Oldest first, as a scan of the ledger lists them; a request's
	// channels in the order it tried them.
	for _, vs := range [][]Violation{rep.Violations, rep.Unrecorded} {
		slices.SortStableFunc(vs, func(a, b Violation) int {
			return strings.Compare(a.Time, b.Time)
		})
	}
	return rep, nil
}

// forbidding names the exclusivity contracts of d that do not allow
// channel; nil when d is nil (the model is no longer configured).
func forbidding(d *route.Decision, channel string) []string {
	if d == nil {
		return nil
	}
	for _, c := range d.Candidates {
		if c.Provider == channel && c.Reason == route.ReasonContract {
			return c.Contracts
		}
	}
	return nil
}

// allows judges channel against an allow list, by the channel's offering
// of model or, when the model no longer offers it, any offering on it
// (type and region belong to the channel). known is false when no model
// offers the channel any more and its name alone does not settle it.
func allows(r *route.Router, a *route.Allow, model, channel string) (allowed, known bool) {
	var off *route.Offering
	if m, ok := r.Catalog().Lookup(model); ok {
		off = offeringOn(m, channel)
	}
	for _, m := range r.Catalog().Models() {
		if off != nil {
			break
		}
		off = offeringOn(m, channel)
	}
	if off == nil {
		if a.Allows(&route.Offering{Provider: channel}) {
			return true, true
		}
		return false, false
	}
	return a.Allows(off), true
}

func offeringOn(m *route.Model, channel string) *route.Offering {
	for i := range m.Offerings {
		if m.Offerings[i].Provider == channel {
			return &m.Offerings[i]
		}
	}
	return nil
}

// nonNil makes an empty list encode as [] rather than null, which scripts
// reading the reports would have to special-case.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
