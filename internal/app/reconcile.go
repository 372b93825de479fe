package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/billing"
	"switchyard/internal/cli"
	"switchyard/internal/config"
	"switchyard/internal/store/sqlstore"
)

// runReconcile is `switchyard reconcile -provider aws|azure|gcp|openai|anthropic -file F`: a
// cloud's cost export against the ledger of the configuration's store,
// day by channel by model.
func runReconcile(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("reconcile", env)
	path := fs.String("config", "switchyard.yaml", "config file: its channels and its store's ledger")
	provider := fs.String("provider", "", "the bill's format: aws (Cost and Usage Report 2.0, CSV or Parquet), azure (Cost Management cost details, CSV), "+
		"gcp (Cloud Billing export, CSV), openai (organization costs API JSON) or anthropic (cost report JSON)")
	account := fs.String("account", "", "only the bill lines of this account: AWS account id, Azure subscription id, Google Cloud or OpenAI project id, "+
		"Anthropic workspace id")
	file := fs.String("file", "", "the cost export")
	pct := fs.Float64("threshold-pct", 5, "a day's difference on a channel is a discrepancy above this percentage ...")
	usd := fs.Float64("threshold-usd", 0.01, "... and above this amount")
	jsonOut := fs.Bool("json", false, "print JSON")
	save := fs.Bool("save", false, "record the bill's amount per channel and day it covers, for commitments with burn_down: billed "+
		"(a later bill of the same days replaces them)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *file == "" {
		return errors.New("reconcile: -file is required")
	}
	if *pct <= 0 || *usd <= 0 {
		return errors.New("reconcile: the thresholds must be positive")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, err := openConfiguredStore(ctx, cfg, env.Getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	q := admin.ReconcileQuery{Provider: *provider, Account: *account, ThresholdPct: *pct, ThresholdUSD: *usd, Save: *save}
	rec, err := reconcileBill(ctx, cfg, st, q, f, fi.Size())
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", *file, err)
	}
	if *save {
		fmt.Fprintf(env.Stderr, "reconcile: saved the billed days of %s; commitments with burn_down: billed count them\n", *file)
	}
	if *jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	return reconcileTable(env, rec)
}

// reconcileBill reads a cost export of q.Provider's format and compares
// it with st's ledger by cfg's channels and models, saving its billed days
// when q.Save: the one reconciliation of the CLI and the admin API. An
// export that cannot be read, or an unknown format, is admin.ErrBadBill.
func reconcileBill(ctx context.Context, cfg *config.Config, st *sqlstore.Store, q admin.ReconcileQuery, r io.ReaderAt, size int64) (*billing.Reconciliation, error) {
	match, err := billMatcher(q.Provider)
	if err != nil {
		return nil, fmt.Errorf("%w: provider %q: %w", admin.ErrBadBill, q.Provider, err)
	}
	bill, err := billing.ParseBill(q.Provider, r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", admin.ErrBadBill, err)
	}
	rec, err := billing.Reconcile(ctx, st, bill, billing.ReconcileOptions{Match: match(cfg), Offerings: channelOfferings(cfg),
		Account: q.Account, ThresholdPct: q.ThresholdPct, ThresholdUSD: q.ThresholdUSD})
	if err != nil {
		return nil, err
	}
	if q.Save {
		if err := st.SaveBilledDays(ctx, rec.BilledDays()); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// billMatcher returns how the channel of a bill line of provider's
// format is found in a configuration.
func billMatcher(provider string) (func(cfg *config.Config) billing.ChannelMatcher, error) {
	switch provider {
	case "aws":
		return bedrockByRegion, nil
	case "azure":
		return azureByResource, nil
	case "gcp":
		return vertexByProject, nil
	case "openai":
		return onlyChannelOf(config.TypeOpenAI), nil
	case "anthropic":
		return onlyChannelOf(config.TypeAnthropic), nil
	}
	return nil, fmt.Errorf("want one of %s", strings.Join(billing.BillFormats, ", "))
}

// channelOfferings lists each channel's configured models, by which
// reconciliation finds the model a bill line names.
func channelOfferings(cfg *config.Config) func(channel string) []billing.Offering {
	by := map[string][]billing.Offering{}
	for _, m := range cfg.Models {
		for _, o := range m.Offerings {
			by[o.Provider] = append(by[o.Provider], billing.Offering{Model: m.Name, Upstream: o.UpstreamModel})
		}
	}
	return func(channel string) []billing.Offering { return by[channel] }
}

// bedrockByRegion finds the Bedrock channel of a CUR line by its region:
// the bill names the region, and the configuration gives each channel
// one. Two Bedrock channels in one region cannot be told apart.
func bedrockByRegion(cfg *config.Config) billing.ChannelMatcher {
	byRegion := map[string][]string{}
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		if channelType(pc) == config.TypeBedrock {
			byRegion[pc.Region] = append(byRegion[pc.Region], pc.Name)
		}
	}
	return func(l billing.BillLine) (string, string, bool) {
		switch chans := byRegion[l.Region]; len(chans) {
		case 0:
			return "", fmt.Sprintf("no bedrock channel in region %q", l.Region), false
		case 1:
			return chans[0], "", true
		default:
			slices.Sort(chans)
			return "", fmt.Sprintf("bedrock channels %s share region %q", strings.Join(chans, ", "), l.Region), false
		}
	}
}

// azureByResource finds the Azure channel of a cost line by its resource:
// the resource ID ends in the Azure OpenAI resource's name, the first
// label of the channel's base_url host (https://NAME.openai.azure.com).
func azureByResource(cfg *config.Config) billing.ChannelMatcher {
	byName := map[string][]string{}
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		if channelType(pc) != config.TypeAzure {
			continue
		}
		if u, err := url.Parse(pc.BaseURL); err == nil && u.Hostname() != "" {
			name, _, _ := strings.Cut(strings.ToLower(u.Hostname()), ".")
			byName[name] = append(byName[name], pc.Name)
		}
	}
	return func(l billing.BillLine) (string, string, bool) {
		switch chans := byName[strings.ToLower(l.Resource)]; len(chans) {
		case 0:
			return "", fmt.Sprintf("no azure channel's base_url names resource %q", l.Resource), false
		case 1:
			return chans[0], "", true
		default:
			slices.Sort(chans)
			return "", fmt.Sprintf("azure channels %s share resource %q", strings.Join(chans, ", "), l.Resource), false
		}
	}
}

// vertexByProject finds the Vertex channel of a billing line by its
// project and region, the channel's project and region (location).
func vertexByProject(cfg *config.Config) billing.ChannelMatcher {
	type where struct{ project, region string }
	byWhere := map[where][]string{}
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		if channelType(pc) == config.TypeVertex {
			w := where{pc.Project, cmp.Or(pc.Region, pc.Location)}
			byWhere[w] = append(byWhere[w], pc.Name)
		}
	}
	return func(l billing.BillLine) (string, string, bool) {
		switch chans := byWhere[where{l.Account, l.Region}]; len(chans) {
		case 0:
			return "", fmt.Sprintf("no vertex channel for project %q in region %q", l.Account, l.Region), false
		case 1:
			return chans[0], "", true
		default:
			slices.Sort(chans)
			return "", fmt.Sprintf("vertex channels %s share project %q and region %q", strings.Join(chans, ", "), l.Account, l.Region), false
		}
	}
}

// onlyChannelOf matches every bill line to the one channel of type typ:
// a vendor's own costs API names no region or endpoint to tell two
// channels apart (select one project with -account).
func onlyChannelOf(typ string) func(cfg *config.Config) billing.ChannelMatcher {
	return func(cfg *config.Config) billing.ChannelMatcher {
		var chans []string
		for i := range cfg.Providers {
			if channelType(&cfg.Providers[i]) == typ {
				chans = append(chans, cfg.Providers[i].Name)
			}
		}
		return func(billing.BillLine) (string, string, bool) {
			switch len(chans) {
			case 0:
				return "", "no " + typ + " channel is configured", false
			case 1:
				return chans[0], "", true
			}
			return "", typ + " channels " + strings.Join(chans, ", ") + " cannot be told apart by the bill", false
		}
	}
}

func reconcileTable(env *Env, rec *billing.Reconciliation) error {
	w := env.Stdout
	fmt.Fprintf(w, "reconcile %s bill %s .. %s: billed %s, ledger %s; %d discrepancies beyond %g%% and $%g\n\n", rec.Provider,
		rec.Since.Format(time.DateOnly), rec.Until.Format(time.DateOnly), cli.USD(rec.BilledUSD), cli.USD(rec.LedgerUSD),
		len(rec.Discrepancies), rec.ThresholdPct, rec.ThresholdUSD)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tCHANNEL\tMODEL\tBILLED USD\tLEDGER USD\tDIFF USD\tDIFF %\t")
	for _, r := range rec.Rows {
		flag := ""
		if slices.Contains(rec.Discrepancies, r) {
			flag = "DISCREPANCY"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", r.Day.Format(time.DateOnly), r.Channel, cmp.Or(r.Model, "(all)"),
			cli.USD(r.BilledUSD), cli.USD(r.LedgerUSD),
			cli.USD(r.DiffUSD), r.DiffPct, flag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rec.Unmatched) > 0 {
		fmt.Fprintln(w, "\nbilled to no channel:")
		for _, u := range rec.Unmatched {
			fmt.Fprintf(w, "  %s: %d lines, %s\n", u.Why, u.Lines, cli.USD(u.CostUSD))
		}
	}
	_, err := fmt.Fprintf(w, "\n%d bill lines left out: not model usage (other services, taxes, credits) or not of -account\n", rec.Skipped)
	return err
}
