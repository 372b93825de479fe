package route_test

import (
	"errors"
	"fmt"
	"time"

	"switchyard/internal/route"
)

// A model offered on Azure, Bedrock and OpenAI, with stateless traffic
// kept on Azure by contract and a monthly spend commitment with Bedrock.
func ExampleRouter_Plan() {
	cat, err := route.NewCatalog([]route.Model{{
		Name: "gpt-5",
		Offerings: []route.Offering{
			{Provider: "azure-eastus", ProviderType: "azure", Region: "eastus", UpstreamModel: "gpt-5-prod"},
			{Provider: "aws-us-east-1", ProviderType: "bedrock", Region: "us-east-1", UpstreamModel: "openai.gpt-5-v1:0"},
			{Provider: "openai-direct", ProviderType: "openai", UpstreamModel: "gpt-5"},
		},
	}})
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 5, 16, 12, 0, 0, 0, time.UTC)
	r, err := route.New(route.Options{
		Catalog: cat,
		Contracts: []route.Contract{
			{Name: "stateless-on-azure", Match: route.Match{Models: []string{"gpt-*"}, Traffic: route.Stateless},
				Allow: &route.Allow{ProviderTypes: []string{"azure"}}},
			{Name: "aws-commitment", Commitment: &route.Commitment{Provider: "aws-us-east-1", AmountUSD: 250000, Period: route.PeriodMonth}},
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	// Half of May has passed and $80,000 was spent on Bedrock: behind pace.
	r.SeedSpend("aws-us-east-1", time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), 80000)

	d, _ := r.Plan(route.Input{Model: "gpt-5", Traffic: route.Stateless})
	fmt.Println("stateless:", d.Order[0].Provider, "|", d.Header(nil))

	d, _ = r.Plan(route.Input{Model: "gpt-5", Traffic: route.Stateful})
	fmt.Println("stateful:", d.Order[0].Provider, "|", d.Header(nil))

	// Azure goes down: stateless traffic fails rather than leave Azure.
	for range 20 {
		r.Observe("azure-eastus", route.Outcome{Retryable: true})
	}
	_, err = r.Plan(route.Input{Model: "gpt-5", Traffic: route.Stateless})
	fmt.Println(errors.Is(err, route.ErrNoChannel), err)

	// After the cool-off, the next request is Azure's probe; its success
	// closes the breaker.
	now = now.Add(10 * time.Second)
	d, _ = r.Plan(route.Input{Model: "gpt-5", Traffic: route.Stateless})
	fmt.Println("probe:", d.Order[0].Provider, d.Why[len(d.Why)-1])
	r.Observe("azure-eastus", route.Outcome{Success: true, Probe: d.Probes[0]})
	fmt.Println(r.Health()[1].State)
	// Output:
	// stateless: azure-eastus | strategy=priority; contracts=stateless-on-azure
	// stateful: aws-us-east-1 | strategy=priority; contracts=aws-commitment
	// true every channel allowed by contract "stateless-on-azure" for model "gpt-5" is unhealthy (circuit breaker open)
	// probe: azure-eastus azure-eastus's circuit breaker is half-open: this request is a probe
	// closed
}
