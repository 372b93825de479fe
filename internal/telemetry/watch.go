package telemetry

import "github.com/prometheus/client_golang/prometheus"

// DependencyState is one request-path dependency's breaker for the
// metrics.
type DependencyState struct {
	// Dependency is a fixed name: "store", "rate_limiter" or
	// "budget_counters".
	Dependency string
	// Up is false while the dependency's breaker is open (it is known
	// down and not called).
	Up bool
	// Outages counts the times its breaker opened since start.
	Outages int64
}

// dependencyCollector reports the dependencies' breakers read at scrape
// time.
type dependencyCollector struct {
	source      func() []DependencyState
	up, outages *prometheus.Desc
}

func (c *dependencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.outages
}

func (c *dependencyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.source() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.Dependency)
		ch <- prometheus.MustNewConstMetric(c.outages, prometheus.CounterValue, float64(s.Outages), s.Dependency)
	}
}

// WatchDependencies reports whether each request-path dependency (the
// store, the Redis rate limiter and budget counters) is up, 0 while its
// outage breaker is open, and how often it went down, read from source at
// every scrape.
func (m *Metrics) WatchDependencies(source func() []DependencyState) {
	m.Registry.MustRegister(&dependencyCollector{
		source: source,
		up: prometheus.NewDesc("switchyard_dependency_up", "1 while a request-path dependency is reachable, 0 while its outage breaker is open.",
			[]string{"dependency"}, nil),
		outages: prometheus.NewDesc("switchyard_dependency_outages_total", "Times a request-path dependency's outage breaker opened.",
			[]string{"dependency"}, nil),
	})
}

// CommitmentState is one commitment's progress for the metrics.
type CommitmentState struct {
	// Contract and Channel are configured names.
	Contract, Channel string
	// AmountUSD is the period's commitment, SpentUSD the spend so far,
	// DueUSD the spend due by now at an even pace.
	AmountUSD, SpentUSD, DueUSD float64
}

// commitmentCollector reports commitments read at scrape time.
type commitmentCollector struct {
	source               func() []CommitmentState
	amount, spent, ratio *prometheus.Desc
}

func (c *commitmentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.amount
	ch <- c.spent
	ch <- c.ratio
}

func (c *commitmentCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.source() {
		ch <- prometheus.MustNewConstMetric(c.amount, prometheus.GaugeValue, s.AmountUSD, s.Contract, s.Channel)
		ch <- prometheus.MustNewConstMetric(c.spent, prometheus.GaugeValue, s.SpentUSD, s.Contract, s.Channel)
		// At the very start of a period nothing is due yet: on pace.
		pace := 1.0
		if s.DueUSD > 0 {
			pace = s.SpentUSD / s.DueUSD
		}
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, pace, s.Contract, s.Channel)
	}
}

// WatchCommitments reports each spend commitment's amount, spend in its
// current period and pace (spend over the spend due by now at an even
// pace: below 1 behind, above 1 ahead), read from source at every scrape.
func (m *Metrics) WatchCommitments(source func() []CommitmentState) {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("switchyard_commitment_"+name, help, []string{"contract", "provider"}, nil)
	}
	m.Registry.MustRegister(&commitmentCollector{
		source: source,
		amount: d("amount_usd", "A spend commitment's amount for its current period, in USD."),
		spent:  d("spent_usd", "Spend on a commitment's channel in its current period, in USD."),
		ratio:  d("pace_ratio", "A commitment's spend over the spend due by now at an even pace (below 1: behind; above 1: ahead)."),
	})
}

// WatchStreams reports the streams open to clients
// (switchyard_streams_in_flight), read from open at every scrape: every
// stream, whether admission control is on or off.
func (m *Metrics) WatchStreams(open func() int64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchyard_streams_in_flight", Help: "Streams open to clients.",
	}, func() float64 { return float64(open()) }))
}

// BudgetState is one tenant's budget use for the metrics.
type BudgetState struct {
	// Tenant is the tenant's name: a stored tenant with a budget, so the
	// label is bounded by what operators created.
	Tenant string
	// UsedRatio is the spend in the current budget period over the
	// budget.
	UsedRatio float64
}

// budgetCollector reports budget use read at scrape time.
type budgetCollector struct {
	source func() []BudgetState
	ratio  *prometheus.Desc
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.ratio }

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.source() {
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, s.UsedRatio, s.Tenant)
	}
}

// WatchBudgets reports each tenant's budget use
// (switchyard_budget_used_ratio: spend in the current budget period over
// the budget, 1 when spent), read from source at every scrape. Only
// tenants with a budget appear.
func (m *Metrics) WatchBudgets(source func() []BudgetState) {
	m.Registry.MustRegister(&budgetCollector{source: source,
		ratio: prometheus.NewDesc("switchyard_budget_used_ratio",
			"A tenant's spend in its current budget period over its budget (1: spent).", []string{"tenant"}, nil)})
}
