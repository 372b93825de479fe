package app

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// ContractReport is `usage -by contract`: traffic and spend per contract,
// and each commitment's spend against its pacing line.
type ContractReport struct {
	Since       time.Time               `json:"since"`
	Until       time.Time               `json:"until"`
	Contracts   []store.UsageSummary    `json:"contracts"`
	Commitments []route.CommitmentState `json:"commitments"`
}

// Violation is a request served outside a contract's allowance.
type Violation struct {
	RequestID string   `json:"request_id"`
	Time      string   `json:"time"`
	Tenant    string   `json:"tenant"`
	Model     string   `json:"model"`
	Traffic   string   `json:"traffic"`
	Provider  string   `json:"provider"`
	Contracts []string `json:"contracts"`
}

// ComplianceReport lists requests served on a channel that an exclusivity
// contract matching them does not allow. It must always be empty.
type ComplianceReport struct {
	Since      time.Time   `json:"since"`
	Until      time.Time   `json:"until"`
	Checked    int64       `json:"checked"`
	Violations []Violation `json:"violations"`
}

// reports answers the admin API's and the CLI's contract, commitment and
// compliance reports from the ledger and the current contracts.
func reports(st *sqlstore.Store, router func() *route.Router) func(ctx context.Context, name string, since, until time.Time) (any, error) {
	return func(ctx context.Context, name string, since, until time.Time) (any, error) {
		r := router()
		switch name {
		case "commitment":
			return r.CommitmentStatus(time.Now()), nil
		case "contract":
			sums, err := st.SumUsage(ctx, store.UsageFilter{Since: since, Until: until}, store.GroupContract)
			if err != nil {
				return nil, err
			}
			return ContractReport{Since: since.UTC(), Until: until.UTC(), Contracts: sums, Commitments: r.CommitmentStatus(time.Now())}, nil
		case "compliance":
			return compliance(ctx, st, r, since, until)
		}
		return nil, fmt.Errorf("unknown report %q", name)
	}
}

// compliance re-checks every request served in the window against the
// current exclusivity contracts.
func compliance(ctx context.Context, st *sqlstore.Store, r *route.Router, since, until time.Time) (*ComplianceReport, error) {
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	type key struct{ model, tenant, traffic string }
	plans := map[key]*route.Decision{}
	rep := &ComplianceReport{Since: since.UTC(), Until: until.UTC(), Violations: []Violation{}}
	err = st.ScanUsage(ctx, store.UsageFilter{Since: since, Until: until}, func(rec store.UsageRecord) error {
		if rec.Provider == "" || rec.Status >= 400 && rec.Status != 499 {
			return nil // nothing was served
		}
		rep.Checked++
		k := key{rec.Model, names[rec.TenantID], rec.Traffic}
		d, ok := plans[k]
		if !ok {
			d, _ = r.Explain(route.Input{Model: k.model, Tenant: k.tenant, Traffic: k.traffic})
			plans[k] = d
		}
		if d == nil {
			return nil // the model is no longer configured
		}
		for _, c := range d.Candidates {
			if c.Provider == rec.Provider && c.Reason == route.ReasonContract {
				rep.Violations = append(rep.Violations, Violation{RequestID: rec.RequestID, Time: rec.CreatedAt.UTC().Format(time.RFC3339),
					Tenant: k.tenant, Model: rec.Model, Traffic: rec.Traffic, Provider: rec.Provider, Contracts: c.Contracts})
			}
		}
		return nil
	})
	return rep, err
}
