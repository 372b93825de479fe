package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/billing"
)

// WhatIfSummary is the one-line description the top-level help lists.
const WhatIfSummary = "replay the ledger through a proposed config, beside what happened: whatif -config proposed.yaml -since 30d"

// maxProposal bounds the proposed configuration, as the admin API does.
const maxProposal = 1 << 20

// WhatIf runs `switchyard whatif`: the proposed configuration is read
// from -config and replayed over the ledger of the store it names, or,
// with -admin, sent to a running gateway to replay over its ledger.
func WhatIf(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags("whatif -config proposed.yaml [flags]",
		"Replay the ledger's traffic through a proposed configuration's routes, contracts and prices, without calling any\n"+
			"channel, and report it beside what happened: cost by channel, model, tenant and contract, the requests the\n"+
			"proposal could not place, commitment pace and list-price differences. Without -admin, the ledger is the store\n"+
			"the proposed configuration names.",
		env.Stdout, env.Stderr)
	config := fs.String("config", "", "the proposed configuration file (required)")
	adminURL := fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "replay on a running gateway's ledger through its admin API (env SWITCHYARD_ADMIN_URL)")
	token := fs.String("token", "", "admin token (default: env SWITCHYARD_ADMIN_TOKEN, else the token switchyard login stored)")
	since := fs.String("since", "30d", "window start: a duration back from now (24h, 30d) or an RFC 3339 time")
	until := fs.String("until", "", "window end (RFC 3339; default now)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	if *config == "" {
		return errors.New("whatif: -config proposed.yaml is required")
	}
	proposed, err := readProposal(*config)
	if err != nil {
		return err
	}
	var b Backend
	if *adminURL != "" {
		tok, err := adminToken(ctx, env, *adminURL, *token)
		if err != nil {
			return err
		}
		b = NewClient(*adminURL, tok)
	} else if b, err = env.Direct(ctx, *config); err != nil {
		return err
	}
	defer b.Close()
	raw, err := b.WhatIf(ctx, proposed, *since, *until)
	if err != nil {
		return err
	}
	if *jsonOut {
		_, err := fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
		return err
	}
	var rep billing.WhatIfReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decoding the what-if report: %w", err)
	}
	return whatIfTables(env.Stdout, &rep)
}

func readProposal(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProposal+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxProposal {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxProposal)
	}
	return data, nil
}

func whatIfTables(w io.Writer, rep *billing.WhatIfReport) error {
	basis := "every figure exact"
	if !rep.Exact {
		basis = "some figures estimated (see notes)"
	}
	fmt.Fprintf(w, "what-if %s .. %s: %d requests in %d hourly groups; %s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339),
		rep.Actual.Requests, rep.Groups, basis)
	fmt.Fprintf(w, "actual %s, proposed %s (%s); %d requests unplaceable (%s as served)\n\n", USD(rep.Actual.CostUSD),
		USD(rep.Proposed.CostUSD), signedUSD(rep.DeltaUSD), rep.Unplaced.Requests, USD(rep.Unplaced.CostUSD))

	compare := func(title string, rows []billing.Comparison) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, title+"\tACTUAL REQ\tACTUAL USD\tPROPOSED REQ\tPROPOSED USD\tDELTA USD\t")
		for _, r := range rows {
			name := r.Name
			if name == "" {
				name = "(none)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t\n", name, r.ActualRequests, USD(r.ActualUSD), r.ProposedRequests, USD(r.ProposedUSD), signedUSD(r.DeltaUSD))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w)
		return err
	}
	if err := compare("CHANNEL", rep.ByChannel); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tACTUAL REQ\tACTUAL USD\tPROPOSED REQ\tPROPOSED USD\tDELTA USD\tACTUAL AT LIST\tPROPOSED AT LIST\tVS LIST\tBASIS")
	for _, r := range rep.ByModel {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.ActualRequests, USD(r.ActualUSD), r.ProposedRequests,
			USD(r.ProposedUSD), signedUSD(r.DeltaUSD), USD(r.ActualListUSD), USD(r.ProposedListUSD), signedUSD(r.ListDeltaUSD), r.Basis)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := compare("TENANT", rep.ByTenant); err != nil {
		return err
	}
	if err := compare("CONTRACT", rep.ByContract); err != nil {
		return err
	}
	if len(rep.Unplaceable) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "UNPLACEABLE\tMODEL\tREQUESTS\tACTUAL USD\tWHY")
		for _, u := range rep.Unplaceable {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", u.Reason, u.Model, u.Requests, USD(u.ActualUSD), u.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(rep.Commitments) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMMITMENT\tPROVIDER\tPERIOD\tSTARTS\tAMOUNT USD\tCOVERED\tPROPOSED USD\tACTUAL USD\tPROJECTED USD\tPACE")
		for _, c := range rep.Commitments {
			pace := "meets the amount"
			if c.Short {
				pace = "short"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%s\n", c.Contract, c.Provider, c.Period, c.PeriodStart.Format(time.DateOnly),
				USD(c.AmountUSD), c.Covered*100, USD(c.ProposedUSD), USD(c.ActualUSD), USD(c.ProjectedUSD), pace)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "notes:")
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	return nil
}

// signedUSD is USD with an explicit sign, for differences.
func signedUSD(v float64) string {
	if v > 0 {
		return "+" + USD(v)
	}
	return USD(v)
}
