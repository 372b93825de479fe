package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"switchyard/internal/cli"
	"switchyard/internal/config"
	"switchyard/internal/usage"
)

// maxPriceFile bounds a price catalogue or price map read into memory
// (LiteLLM's map is about 1 MB).
const maxPriceFile = 64 << 20

// readPriceFile reads a price file, bounded.
func readPriceFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPriceFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPriceFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxPriceFile)
	}
	return b, nil
}

// priceBook is the configuration's price book: the built-in catalogue,
// overridden by prices.file when one is configured.
func priceBook(cfg *config.Config) (*usage.PriceBook, error) {
	b := &usage.PriceBook{BuiltIn: usage.BuiltinCatalogue()}
	if path := cfg.Prices.File; path != "" {
		data, err := readPriceFile(path)
		if err != nil {
			return nil, fmt.Errorf("prices.file: %w", err)
		}
		if b.File, err = usage.ParseCatalogue(data, path); err != nil {
			return nil, fmt.Errorf("prices.file: %w", err)
		}
	}
	return b, nil
}

// channelType is the channel type a provider's prices are listed under:
// a simulated cloud is priced as the cloud it simulates.
func channelType(pc *config.Provider) string {
	if pc.Type == config.TypeFake && pc.Fake != nil {
		return pc.Fake.Cloud
	}
	return pc.Type
}

// offeringPrice is the one place that decides what an offering costs; the
// router (and through it the lowest-cost strategy and the ledger), prices
// list and validate all ask it. The price is the configured one less the
// negotiated discount (offeringPricing).
func offeringPrice(b *usage.PriceBook, cfg *config.Config, m config.Model, o config.Offering) (usage.Price, usage.PriceSource) {
	p := offeringPricing(b, cfg, m, o)
	return p.Effective, p.Source
}

// pricing is what an offering costs and how the figure was reached.
type pricing struct {
	// List is the catalogue's price (prices.file, else built-in); Listed
	// is false when no catalogue lists the offering.
	List   usage.Price
	Listed bool
	// Configured is the offering's own price, else its list price, and
	// Source says which.
	Configured usage.Price
	Source     usage.PriceSource
	// DiscountPct is the negotiated discount (the offering's, else its
	// channel's); Effective is Configured less it: what is charged.
	DiscountPct float64
	Effective   usage.Price
}

// offeringPricing decides an offering's price, for offeringPrice and the
// chargeback export, which shows every step.
func offeringPricing(b *usage.PriceBook, cfg *config.Config, m config.Model, o config.Offering) pricing {
	pc := cfg.ProviderByName(o.Provider)
	if pc == nil {
		return pricing{}
	}
	own := o.Price
	configured := usage.Price{InputPerMTok: own.InputPerMTok, OutputPerMTok: own.OutputPerMTok,
		CachedInputPerMTok: own.CachedInputPerMTok, CacheWritePerMTok: own.CacheWritePerMTok, ReasoningPerMTok: own.ReasoningPerMTok}
	var p pricing
	p.Configured, p.Source = b.Resolve(configured, own.Free, channelType(pc), pc.Region, o.UpstreamModel, m.Name)
	list, src := b.Resolve(usage.Price{}, false, channelType(pc), pc.Region, o.UpstreamModel, m.Name)
	p.List, p.Listed = list, src.Kind != ""
	p.DiscountPct = pc.Price.DiscountPct
	if own.DiscountPct != 0 {
		p.DiscountPct = own.DiscountPct
	}
	f := 1 - p.DiscountPct/100
	c := p.Configured
	p.Effective = usage.Price{InputPerMTok: c.InputPerMTok * f, OutputPerMTok: c.OutputPerMTok * f,
		CachedInputPerMTok: c.CachedInputPerMTok * f, CacheWritePerMTok: c.CacheWritePerMTok * f, ReasoningPerMTok: c.ReasoningPerMTok * f}
	return p
}

// unpricedWarnings names every offering that would cost $0 without
// saying so (price: {free: true}): its spend would be invisible to
// budgets, reports and the lowest-cost strategy.
func unpricedWarnings(cfg *config.Config, b *usage.PriceBook) []string {
	var out []string
	for i, m := range cfg.Models {
		for j, o := range m.Offerings {
			if _, src := offeringPrice(b, cfg, m, o); src.Kind == "" {
				out = append(out, fmt.Sprintf("models[%d].offerings[%d]: model %q on provider %q (upstream %q) has no price: it would cost $0; "+
					"set price (or price: {free: true} if it is free), or list it in prices.file", i, j, m.Name, o.Provider, o.UpstreamModel))
			}
		}
	}
	return out
}

// runPrices is `switchyard prices list|update`.
func runPrices(ctx context.Context, env *Env, args []string) error {
	return cli.Group(ctx, env.Stdout, env.Stderr, "prices", "Show what each offering costs and where the figure comes from, or convert a community price map into a catalogue.", []cli.Sub{
		{Name: "list", Summary: "each offering's price and its source (offering, prices.file, built-in catalogue)", Run: func(_ context.Context, args []string) error {
			return runPricesList(env, args)
		}},
		{Name: "update", Summary: "convert the LiteLLM price map JSON (-from FILE) into a catalogue file (-o OUT)", Run: func(_ context.Context, args []string) error {
			return runPricesUpdate(env, args)
		}},
	}, args)
}

// runPricesList prints what each offering costs and where the figure
// comes from.
func runPricesList(env *Env, args []string) error {
	fs := cli.NewFlags("prices list [flags]", "Each offering's price per million tokens and where the figure comes from.", env.Stdout, env.Stderr)
	path := fs.String("config", "switchyard.yaml", "config file")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	book, err := priceBook(cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPROVIDER\tTYPE\tREGION\tUPSTREAM\tINPUT\tOUTPUT\tCACHED\tCACHE WRITE\tSOURCE")
	for _, m := range cfg.Models {
		for _, o := range m.Offerings {
			pc := cfg.ProviderByName(o.Provider)
			pr := offeringPricing(book, cfg, m, o)
			p, src := pr.Effective, pr.Source.String()
			if pr.DiscountPct != 0 {
				src += fmt.Sprintf(", less %g%% discount", pr.DiscountPct)
			}
			region := pc.Region
			if region == "" {
				region = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, o.Provider, channelType(pc), region, o.UpstreamModel,
				rate(p.InputPerMTok), rate(p.OutputPerMTok), rate(p.CachedInputPerMTok), rate(p.CacheWritePerMTok), src)
		}
	}
	fmt.Fprintln(tw, "\nRates are USD per million tokens; '-' falls back to the input rate (cached) or 1.25x it (cache write).")
	return tw.Flush()
}

func rate(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%g", r)
}

// runPricesUpdate converts the community price map (LiteLLM's
// model_prices_and_context_window.json) into a catalogue file for
// prices.file.
func runPricesUpdate(env *Env, args []string) error {
	fs := cli.NewFlags("prices update -from FILE [flags]", "Convert a community price map (model_prices_and_context_window.json) into a catalogue file that prices.file loads.", env.Stdout, env.Stderr)
	from := fs.String("from", "", "LiteLLM price map (model_prices_and_context_window.json) to convert")
	out := fs.String("o", "", "catalogue file to write (default: standard output)")
	asOf := fs.String("as-of", "", "date the prices were checked, YYYY-MM-DD (default: today, UTC)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *from == "" {
		return errors.New("prices update: -from FILE is required")
	}
	date := *asOf
	if date == "" {
		date = time.Now().UTC().Format(time.DateOnly)
	} else if _, err := time.Parse(time.DateOnly, date); err != nil {
		return fmt.Errorf("prices update: -as-of %q: want YYYY-MM-DD", date)
	}
	data, err := readPriceFile(*from)
	if err != nil {
		return fmt.Errorf("prices update: %w", err)
	}
	cf, skipped, err := usage.FromLiteLLM(data, date, *from)
	if err != nil {
		return fmt.Errorf("prices update: %w", err)
	}
	b, err := json.MarshalIndent(cf, "", " ")
	if err != nil {
		return fmt.Errorf("prices update: %w", err)
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = env.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("prices update: %w", err)
	}
	fmt.Fprintf(env.Stderr, "%s: %d models priced as of %s (%d skipped: other providers, other modes or no price)\n", *out, len(cf.Entries), date, skipped)
	return nil
}
