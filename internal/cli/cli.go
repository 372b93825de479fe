// Package cli implements the operator subcommands (tenants, keys, usage)
// as thin clients: over the admin API of a running gateway (-admin URL),
// or, for bootstrapping, directly over the store named by a config file
// (-config F). Both paths print the same thing.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/admin"
)

// Backend is what the subcommands need, over HTTP or the store.
type Backend interface {
	CreateTenant(ctx context.Context, spec admin.TenantSpec) (*admin.TenantView, error)
	ListTenants(ctx context.Context) ([]admin.TenantView, error)
	UpdateTenant(ctx context.Context, idOrName string, u admin.TenantUpdate) (*admin.TenantView, error)
	IssueKey(ctx context.Context, spec admin.KeySpec) (*admin.IssuedView, error)
	ListKeys(ctx context.Context, tenant string) ([]admin.KeyView, error)
	RevokeKey(ctx context.Context, idOrSecret string) (*admin.KeyView, error)
	RotateKey(ctx context.Context, idOrSecret string) (*admin.IssuedView, error)
	Usage(ctx context.Context, q admin.UsageQuery) (json.RawMessage, error)
	Close() error
}

// Env is what a subcommand sees of the process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Direct opens the store behind a config file, for -config mode.
	Direct func(ctx context.Context, configPath string) (Backend, error)
}

// connFlags are the flags that choose a backend.
type connFlags struct {
	adminURL, token, config *string
}

func addConnFlags(fs *flag.FlagSet, env *Env) connFlags {
	return connFlags{
		adminURL: fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "admin API base URL, e.g. http://127.0.0.1:8081 (env SWITCHYARD_ADMIN_URL)"),
		token:    fs.String("token", "", "admin token (default: env SWITCHYARD_ADMIN_TOKEN)"),
		config:   fs.String("config", "", "use the store of this config file directly instead of the admin API"),
	}
}

func (c connFlags) open(ctx context.Context, env *Env) (Backend, error) {
	switch {
	case *c.config != "" && *c.adminURL != "":
		return nil, errors.New("give -admin or -config, not both")
	case *c.config != "":
		return env.Direct(ctx, *c.config)
	case *c.adminURL != "":
		tok := *c.token
		if tok == "" {
			tok = env.Getenv("SWITCHYARD_ADMIN_TOKEN")
		}
		return NewClient(*c.adminURL, tok), nil
	}
	return nil, errors.New("give -admin URL (a running gateway) or -config FILE (its store directly)")
}

func newFlags(name string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet("switchyard "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) (bool, error) {
	// Allow flags after positional arguments (keys revoke ID -admin URL).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return true, nil
			}
			return false, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return false, fs.Parse(append([]string{"--"}, pos...))
}

// limitFlags are the shared -rpm/-tpm/... flags.
type limitFlags struct {
	rpm, tpm, streams *int
	budget            *float64
	period            *string
}

func addLimitFlags(fs *flag.FlagSet) limitFlags {
	return limitFlags{
		rpm:     fs.Int("rpm", 0, "requests per minute (0: unlimited)"),
		tpm:     fs.Int("tpm", 0, "tokens per minute (0: unlimited)"),
		streams: fs.Int("max-streams", 0, "concurrent streams (0: unlimited)"),
		budget:  fs.Float64("budget-usd", 0, "budget in USD per period (0: none)"),
		period:  fs.String("budget-period", "", "budget period: day or month"),
	}
}

func (l limitFlags) limits() admin.Limits {
	return admin.Limits{RPM: *l.rpm, TPM: *l.tpm, MaxStreams: *l.streams, BudgetUSD: *l.budget, BudgetPeriod: *l.period}
}

// Tenants runs `switchyard tenants create|list|update|disable|enable`.
func Tenants(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: switchyard tenants create|list|update|disable|enable [flags]")
	}
	sub, args := args[0], args[1:]
	fs := newFlags("tenants "+sub, env)
	conn := addConnFlags(fs, env)
	lim := addLimitFlags(fs)
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	b, err := conn.open(ctx, env)
	if err != nil {
		return err
	}
	defer b.Close()
	name := fs.Arg(0)
	needName := func() error {
		if name == "" {
			return fmt.Errorf("usage: switchyard tenants %s NAME", sub)
		}
		return nil
	}
	var t *admin.TenantView
	switch sub {
	case "create":
		if err := needName(); err != nil {
			return err
		}
		t, err = b.CreateTenant(ctx, admin.TenantSpec{Name: name, Limits: lim.limits()})
	case "list":
		ts, err := b.ListTenants(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tRPM\tTPM\tSTREAMS\tBUDGET")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", t.ID, t.Name, status(t.Disabled), t.RPM, t.TPM, t.MaxStreams, budget(t.Limits))
		}
		return tw.Flush()
	case "update":
		if err := needName(); err != nil {
			return err
		}
		u := admin.TenantUpdate{}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "rpm":
				u.RPM = lim.rpm
			case "tpm":
				u.TPM = lim.tpm
			case "max-streams":
				u.MaxStreams = lim.streams
			case "budget-usd":
				u.BudgetUSD = lim.budget
			case "budget-period":
				u.BudgetPeriod = lim.period
			}
		})
		t, err = b.UpdateTenant(ctx, name, u)
	case "disable", "enable":
		if err := needName(); err != nil {
			return err
		}
		d := sub == "disable"
		t, err = b.UpdateTenant(ctx, name, admin.TenantUpdate{Disabled: &d})
	default:
		return fmt.Errorf("unknown tenants subcommand %q", sub)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "tenant %s (%s): %s, rpm %d, tpm %d, streams %d, budget %s\n", t.Name, t.ID, status(t.Disabled), t.RPM, t.TPM, t.MaxStreams, budget(t.Limits))
	return nil
}

func status(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "active"
}

func budget(l admin.Limits) string {
	if l.BudgetUSD == 0 {
		return "none"
	}
	return fmt.Sprintf("$%.2f/%s", l.BudgetUSD, l.BudgetPeriod)
}

// Keys runs `switchyard keys create|list|revoke|rotate`.
func Keys(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: switchyard keys create|list|revoke|rotate [flags]")
	}
	sub, args := args[0], args[1:]
	fs := newFlags("keys "+sub, env)
	conn := addConnFlags(fs, env)
	lim := addLimitFlags(fs)
	tenant := fs.String("tenant", "", "tenant name (create: created if missing in -config mode)")
	name := fs.String("name", "", "a label for the key")
	expires := fs.Duration("expires", 0, "key lifetime, e.g. 720h (0: never)")
	models := fs.String("models", "", "comma-separated model globs the key may use (default: all)")
	meta := fs.String("meta", "", "comma-separated k=v metadata")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	b, err := conn.open(ctx, env)
	if err != nil {
		return err
	}
	defer b.Close()
	switch sub {
	case "create":
		if *tenant == "" {
			return errors.New("keys create: -tenant is required")
		}
		spec := admin.KeySpec{Tenant: *tenant, CreateTenant: *conn.config != "", Name: *name, Limits: lim.limits()}
		if *expires > 0 {
			at := time.Now().Add(*expires).UTC()
			spec.ExpiresAt = &at
		}
		if *models != "" {
			spec.AllowedModels = strings.Split(*models, ",")
		}
		if *meta != "" {
			spec.Metadata = map[string]string{}
			for _, kv := range strings.Split(*meta, ",") {
				k, v, _ := strings.Cut(kv, "=")
				spec.Metadata[k] = v
			}
		}
		iss, err := b.IssueKey(ctx, spec)
		if err != nil {
			return err
		}
		printIssued(env.Stdout, iss, conn.noPairReason())
		return nil
	case "list":
		ks, err := b.ListKeys(ctx, *tenant)
		if err != nil {
			return err
		}
		sort.Slice(ks, func(i, j int) bool { return ks[i].CreatedAt.Before(ks[j].CreatedAt) })
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tPREFIX\tNAME\tCREATED\tSTATUS")
		for _, k := range ks {
			st := "active"
			switch {
			case k.RevokedAt != nil:
				st = "revoked"
			case k.ExpiresAt != nil && k.ExpiresAt.Before(time.Now()):
				st = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.TenantID, k.Prefix, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), st)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: switchyard keys revoke KEY_ID_OR_KEY [-admin URL | -config F]")
		}
		k, err := b.RevokeKey(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s\n", k.ID)
		return nil
	case "rotate":
		if fs.NArg() != 1 {
			return errors.New("usage: switchyard keys rotate KEY_ID_OR_KEY [-admin URL | -config F]")
		}
		iss, err := b.RotateKey(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		printIssued(env.Stdout, iss, conn.noPairReason())
		return nil
	}
	return fmt.Errorf("unknown keys subcommand %q (want create, list, revoke or rotate)", sub)
}

// noPairReason says why a key was issued without an AWS key pair: the
// process that sealed it had no master key.
func (c connFlags) noPairReason() string {
	if *c.config != "" {
		return "SWITCHYARD_MASTER_KEY is not set here"
	}
	return "the gateway runs without SWITCHYARD_MASTER_KEY"
}

func printIssued(w io.Writer, iss *admin.IssuedView, noPairReason string) {
	fmt.Fprintf(w, "key id:   %s\ntenant:   %s\napi key:  %s\n", iss.Key.ID, iss.Key.TenantID, iss.Secret)
	if iss.AWSAccessKeyID != "" {
		fmt.Fprintf(w, "aws access key id:     %s\naws secret access key: %s\n", iss.AWSAccessKeyID, iss.AWSSecretAccessKey)
	} else {
		fmt.Fprintf(w, "aws key pair: none (%s, so no SigV4 secret can be sealed);\n"+
			"  SigV4 clients can send the api key as a Bedrock API key (Authorization: Bearer) instead.\n", noPairReason)
	}
	fmt.Fprintln(w, "\nThe key is shown only this once; Switchyard keeps only its hash.")
}

// Usage runs `switchyard usage`.
func Usage(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("usage", env)
	conn := addConnFlags(fs, env)
	by := fs.String("by", "", "group by tenant, key, model, provider, contract or compliance")
	since := fs.String("since", "24h", "window start: a duration back from now (24h, 7d) or an RFC 3339 time")
	until := fs.String("until", "", "window end (RFC 3339; default now)")
	tenant := fs.String("tenant", "", "only this tenant")
	model := fs.String("model", "", "only this model")
	jsonOut := fs.Bool("json", false, "print JSON")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	b, err := conn.open(ctx, env)
	if err != nil {
		return err
	}
	defer b.Close()
	raw, err := b.Usage(ctx, admin.UsageQuery{Since: *since, Until: *until, By: *by, Tenant: *tenant, Model: *model})
	if err != nil {
		return err
	}
	var rep admin.UsageReport
	if *jsonOut || json.Unmarshal(raw, &rep) != nil || rep.Data == nil {
		_, err := fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(env.Stdout, "usage %s .. %s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
	fmt.Fprintln(tw, strings.ToUpper(orAll(rep.By))+"\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHED\tCOST USD\t")
	for _, r := range rep.Data {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.6f\t\n", orAll(r.Group), r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CostUSD)
	}
	return tw.Flush()
}

func orAll(s string) string {
	if s == "" {
		return "all"
	}
	return s
}
