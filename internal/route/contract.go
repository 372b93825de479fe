package route

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Contract constrains routing. It is either an exclusivity contract
// (Allow: only the listed channels may carry matching traffic; residency
// is an Allow by region) or a spend commitment (Commitment: the channel is
// preferred while its spend is behind the pacing line). It mirrors the
// configuration's contract, which the composition root converts.
type Contract struct {
	// Name identifies the contract in decisions, headers and errors.
	Name string
	// Match selects the traffic the contract applies to; the zero Match
	// selects everything.
	Match Match
	// Exactly one of Allow and Commitment is set.
	Allow      *Allow
	Commitment *Commitment
}

// Match selects traffic. Every non-empty field must match.
type Match struct {
	// Models are globs (path.Match) over client-facing model names; a
	// model matches when its name or any of its aliases does, so the
	// contract follows the model whatever name the client used.
	Models []string
	// Traffic is Stateless, Stateful or empty for both.
	Traffic string
	// Tenants are tenant names.
	Tenants []string
}

// Allow lists the channels an exclusivity contract permits. An offering
// is allowed when it matches any listed item.
type Allow struct {
	// Providers are channel names.
	Providers []string
	// ProviderTypes are channel types such as azure or bedrock.
	ProviderTypes []string
	// Regions are globs (path.Match) over channel regions, such as "eu-*".
	Regions []string
}

// Commitment is a spend commitment with one channel.
type Commitment struct {
	// Provider is the committed channel's name.
	Provider string
	// AmountUSD is the spend committed per period.
	AmountUSD float64
	// Period is the calendar period the amount is due over.
	Period Period
	// Pacing is "even" or empty (even): the channel is preferred while its
	// spend is below AmountUSD × the elapsed fraction of the period.
	Pacing string
	// BurnDown is "ledger" (or empty) or "billed": what reports measure
	// the commitment's progress on (routing uses the ledger either way).
	BurnDown string
}

// PacingEven spreads a commitment's amount evenly over its period.
const PacingEven = "even"

// Period is a UTC calendar period of a commitment.
type Period string

// Commitment periods. Weeks start on Monday; quarters in January, April,
// July and October.
const (
	PeriodDay     Period = "day"
	PeriodWeek    Period = "week"
	PeriodMonth   Period = "month"
	PeriodQuarter Period = "quarter"
	PeriodYear    Period = "year"
)

// Valid reports whether p is one of the Period constants.
func (p Period) Valid() bool {
	switch p {
	case PeriodDay, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear:
		return true
	}
	return false
}

// Bounds returns the UTC period that contains t: start ≤ t < end. It
// returns zero times for an invalid period.
func (p Period) Bounds(t time.Time) (start, end time.Time) {
	t = t.UTC()
	y, mo, d := t.Date()
	switch p {
	case PeriodDay:
		start = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PeriodWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, mo, d-back, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 7)
	case PeriodMonth:
		start = time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	case PeriodQuarter:
		start = time.Date(y, mo-(mo-1)%3, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 3, 0)
	case PeriodYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0)
	}
	return time.Time{}, time.Time{}
}

// due returns the amount due by now under even pacing, in the period
// [start, end).
func (c *Commitment) due(start, end, now time.Time) float64 {
	elapsed := float64(now.Sub(start)) / float64(end.Sub(start))
	return c.AmountUSD * min(max(elapsed, 0), 1)
}

// check validates a contract, reporting every problem.
func (c *Contract) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Name == "" {
		bad("name required")
	}
	if (c.Allow == nil) == (c.Commitment == nil) {
		bad("exactly one of allow and commitment must be set")
	}
	for _, g := range c.Match.Models {
		if _, err := path.Match(g, ""); err != nil {
			bad("invalid model glob %q", g)
		}
	}
	switch c.Match.Traffic {
	case "", Stateless, Stateful:
	default:
		bad("unknown traffic class %q", c.Match.Traffic)
	}
	if a := c.Allow; a != nil {
		if len(a.Providers)+len(a.ProviderTypes)+len(a.Regions) == 0 {
			bad("allow lists nothing")
		}
		for _, g := range a.Regions {
			if _, err := path.Match(g, ""); err != nil {
				bad("invalid region glob %q", g)
			}
		}
	}
	if cm := c.Commitment; cm != nil {
		if cm.Provider == "" {
			bad("commitment without provider")
		}
		if !(cm.AmountUSD > 0) {
			bad("commitment amount must be positive, got %v", cm.AmountUSD)
		}
		if !cm.Period.Valid() {
			bad("unknown commitment period %q", cm.Period)
		}
		if cm.Pacing != "" && cm.Pacing != PacingEven {
			bad("unknown pacing %q", cm.Pacing)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("contract %q: %w", c.Name, err)
	}
	return nil
}

// matchesModel reports whether any of m's names matches the contract's
// model globs (or there are none).
func (mt *Match) matchesModel(m *Model) bool {
	if len(mt.Models) == 0 {
		return true
	}
	for _, g := range mt.Models {
		if ok, _ := path.Match(g, m.Name); ok {
			return true
		}
		for _, a := range m.Aliases {
			if ok, _ := path.Match(g, a); ok {
				return true
			}
		}
	}
	return false
}

// matchesRequest checks the per-request parts of a match: traffic class
// and tenant. The model part is decided once per catalog.
func (mt *Match) matchesRequest(tenant, traffic string) bool {
	if mt.Traffic != "" && mt.Traffic != traffic {
		return false
	}
	if len(mt.Tenants) == 0 {
		return true
	}
	for _, t := range mt.Tenants {
		if t == tenant {
			return true
		}
	}
	return false
}

// Allows reports whether an offering matches any item of the list.
func (a *Allow) Allows(o *Offering) bool {
	for _, p := range a.Providers {
		if p == o.Provider {
			return true
		}
	}
	for _, t := range a.ProviderTypes {
		if t == o.ProviderType {
			return true
		}
	}
	for _, g := range a.Regions {
		if ok, _ := path.Match(g, o.Region); ok && o.Region != "" {
			return true
		}
	}
	return false
}

// describe renders the allow list for explanations.
func (a *Allow) describe() string {
	var parts []string
	if len(a.Providers) > 0 {
		parts = append(parts, "providers "+strings.Join(a.Providers, ", "))
	}
	if len(a.ProviderTypes) > 0 {
		parts = append(parts, "provider types "+strings.Join(a.ProviderTypes, ", "))
	}
	if len(a.Regions) > 0 {
		parts = append(parts, "regions "+strings.Join(a.Regions, ", "))
	}
	return strings.Join(parts, "; ")
}
