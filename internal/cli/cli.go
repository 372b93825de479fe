// Package cli implements the operator subcommands (tenants, keys, usage,
// requests)
// as thin clients: over the admin API of a running gateway (-admin URL),
// or, for bootstrapping, directly over the store named by a config file
// (-config F). Both paths print the same thing. It also owns the help
// conventions every switchyard command follows (see NewFlags and Group).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/billing"
)

// Backend is what the subcommands need, over HTTP or the store.
type Backend interface {
	CreateTenant(ctx context.Context, spec admin.TenantSpec) (*admin.TenantView, error)
	ListTenants(ctx context.Context) ([]admin.TenantView, error)
	UpdateTenant(ctx context.Context, idOrName string, u admin.TenantUpdate) (*admin.TenantView, error)
	IssueKey(ctx context.Context, spec admin.KeySpec) (*admin.IssuedView, error)
	ListKeys(ctx context.Context, tenant string) ([]admin.KeyView, error)
	FindKeys(ctx context.Context, q admin.KeyQuery) ([]admin.KeyView, error)
	UpdateKey(ctx context.Context, idOrSecret string, u admin.KeyUpdate) (*admin.KeyView, error)
	RevokeKey(ctx context.Context, idOrSecret string) (*admin.KeyView, error)
	// RotateKey gives a key a new secret; the old one works for grace.
	RotateKey(ctx context.Context, idOrSecret string, grace time.Duration) (*admin.IssuedView, error)
	Usage(ctx context.Context, q admin.UsageQuery) (json.RawMessage, error)
	Requests(ctx context.Context, q admin.RequestQuery) (*admin.RequestPage, error)
	Request(ctx context.Context, id string) (*admin.RequestRecord, error)
	// WhatIf replays the ledger through a proposed configuration (YAML);
	// since and until are as the admin API takes them.
	WhatIf(ctx context.Context, proposed []byte, since, until string) (json.RawMessage, error)
	// UsageExport returns a chargeback export, rendered as q.Format asks.
	UsageExport(ctx context.Context, q admin.ExportQuery) ([]byte, error)
	Close() error
}

// Env is what a subcommand sees of the process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Direct opens the store behind a config file, for -config mode.
	Direct func(ctx context.Context, configPath string) (Backend, error)
	// OpenURL, if set, is called with a URL the user is asked to open in
	// a browser (login prints it too).
	OpenURL func(url string)
}

// Flags is a command's flag set with its synopsis, so that -h prints the
// command's own usage on stdout and exits 0, while a bad flag prints the
// usage on stderr and fails.
type Flags struct {
	*flag.FlagSet
	synopsis string // "keys list [flags]"
	summary  string
	stdout   io.Writer
	stderr   io.Writer
}

// NewFlags returns the flag set of `switchyard <synopsis>`, e.g.
// NewFlags("keys revoke KEY_ID_OR_KEY [flags]", "revoke a key", ...).
func NewFlags(synopsis, summary string, stdout, stderr io.Writer) *Flags {
	name, _, _ := strings.Cut(synopsis, " [")
	f := &Flags{FlagSet: flag.NewFlagSet("switchyard "+name, flag.ContinueOnError), synopsis: synopsis, summary: summary,
		stdout: stdout, stderr: stderr}
	f.SetOutput(stderr)
	f.Usage = func() {} // printed by Parse, on the stream that fits
	return f
}

// PrintUsage writes the synopsis, summary and flags to w.
func (f *Flags) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: switchyard %s\n", f.synopsis)
	if f.summary != "" {
		fmt.Fprintf(w, "\n%s\n", f.summary)
	}
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(f.stderr)
	}
}

// Parse parses args, allowing flags after positional arguments (keys
// revoke ID -admin URL). help is true when -h was asked for: the usage is
// then printed on stdout and the caller returns nil.
func (f *Flags) Parse(args []string) (help bool, err error) {
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.PrintUsage(f.stdout)
				return true, nil
			}
			f.PrintUsage(f.stderr)
			return false, err
		}
		if f.NArg() == 0 {
			break
		}
		pos = append(pos, f.Arg(0))
		args = f.Args()[1:]
	}
	return false, f.FlagSet.Parse(append([]string{"--"}, pos...))
}

// Sub is one subcommand of a Group.
type Sub struct {
	Name, Summary string
	Run           func(ctx context.Context, args []string) error
}

// IsHelp reports whether arg asks for help.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// Group runs `switchyard <name> <sub> ...`: -h (or no subcommand, as an
// error) lists the subcommands.
func Group(ctx context.Context, stdout, stderr io.Writer, name, summary string, subs []Sub, args []string) error {
	usage := func(w io.Writer) {
		names := make([]string, len(subs))
		for i, s := range subs {
			names[i] = s.Name
		}
		fmt.Fprintf(w, "usage: switchyard %s %s [flags]\n\n%s\n\nsubcommands:\n", name, strings.Join(names, "|"), summary)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Summary)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nRun 'switchyard %s <subcommand> -h' for its flags.\n", name)
	}
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("%s: no subcommand given", name)
	}
	if IsHelp(args[0]) {
		usage(stdout)
		return nil
	}
	for _, s := range subs {
		if s.Name == args[0] {
			return s.Run(ctx, args[1:])
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown %s subcommand %q", name, args[0])
}

// connFlags are the flags that choose a backend.
type connFlags struct {
	adminURL, token, config *string
}

func addConnFlags(fs *Flags, env *Env) connFlags {
	return connFlags{
		adminURL: fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "admin API base URL, e.g. http://127.0.0.1:8081 (env SWITCHYARD_ADMIN_URL)"),
		token:    fs.String("token", "", "admin token (default: env SWITCHYARD_ADMIN_TOKEN, else the token switchyard login stored)"),
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
		tok, err := adminToken(ctx, env, *c.adminURL, *c.token)
		if err != nil {
			return nil, err
		}
		return NewClient(*c.adminURL, tok), nil
	}
	return nil, errors.New("give -admin URL (a running gateway) or -config FILE (its store directly)")
}

// limitFlags are the shared -rpm/-tpm/... flags.
type limitFlags struct {
	rpm, tpm, streams *int
	budget            *float64
	period            *string
}

// given sets the field of u that the limit flag named name changes, if
// name is one of them (for fs.Visit, which calls with the flags given).
func (l limitFlags) given(name string, u *admin.LimitsUpdate) {
	switch name {
	case "rpm":
		u.RPM = l.rpm
	case "tpm":
		u.TPM = l.tpm
	case "max-streams":
		u.MaxStreams = l.streams
	case "budget-usd":
		u.BudgetUSD = l.budget
	case "budget-period":
		u.BudgetPeriod = l.period
	}
}

func addLimitFlags(fs *Flags) limitFlags {
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

// command is the shape of every leaf subcommand: flags parsed, backend
// open, then run.
func command(ctx context.Context, env *Env, fs *Flags, args []string, run func(b Backend) error) error {
	conn := addConnFlags(fs, env)
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	b, err := conn.open(ctx, env)
	if err != nil {
		return err
	}
	defer b.Close()
	return run(b)
}

// TenantsSummary and the other summaries are the one-line descriptions
// the top-level help lists.
const (
	TenantsSummary = "manage tenants: tenants create|list|update|disable|enable (-admin URL | -config F)"
	KeysSummary    = "manage virtual keys: keys create|list|update|revoke|rotate (-admin URL | -config F)"
	UsageSummary   = "report traffic and spend: usage -by " + UsageGroups + " -since 24h; usage export -by label:K -format csv"
	// UsageGroups are the values of usage -by.
	UsageGroups = "tenant|key|model|provider|contract|compliance|commitment|budget"
)

// Tenants runs `switchyard tenants create|list|update|disable|enable`.
func Tenants(ctx context.Context, env *Env, args []string) error {
	show := func(t *admin.TenantView) {
		fmt.Fprintf(env.Stdout, "tenant %s (%s): %s, rpm %d, tpm %d, streams %d, budget %s, allowed IPs %s\n", t.Name, t.ID, status(t.Disabled),
			t.RPM, t.TPM, t.MaxStreams, budget(t.Limits), allowed(t.AllowedCIDRs))
	}
	named := func(sub, summary string, limits bool, do func(b Backend, name string, fs *Flags, lim limitFlags) (*admin.TenantView, error)) Sub {
		return Sub{Name: sub, Summary: summary, Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("tenants "+sub+" NAME [flags]", summary, env.Stdout, env.Stderr)
			var lim limitFlags
			if limits {
				lim = addLimitFlags(fs)
				fs.Var(labelsFlag{}, "label", "a label k=v, such as cost_centre=cc-42, for usage export -by label:k (repeatable; on update, k= removes it)")
				fs.String("allow-ip", "", "comma-separated CIDRs the tenant's keys may be used from, e.g. 10.0.0.0/8,2001:db8::/32 (on update, \"\" removes the list)")
			}
			return command(ctx, env, fs, args, func(b Backend) error {
				if fs.NArg() != 1 {
					return fmt.Errorf("usage: switchyard tenants %s NAME", sub)
				}
				t, err := do(b, fs.Arg(0), fs, lim)
				if err != nil {
					return err
				}
				show(t)
				return nil
			})
		}}
	}
	enable := func(disabled bool) func(b Backend, name string, _ *Flags, _ limitFlags) (*admin.TenantView, error) {
		return func(b Backend, name string, _ *Flags, _ limitFlags) (*admin.TenantView, error) {
			return b.UpdateTenant(ctx, name, admin.TenantUpdate{Disabled: &disabled})
		}
	}
	return Group(ctx, env.Stdout, env.Stderr, "tenants", "Manage tenants.", []Sub{
		named("create", "create a tenant with its limits, labels and IP allow-list", true, func(b Backend, name string, fs *Flags, lim limitFlags) (*admin.TenantView, error) {
			return b.CreateTenant(ctx, admin.TenantSpec{Name: name, Limits: lim.limits(), Metadata: labelsOf(fs), AllowedCIDRs: cidrsOf(fs)})
		}),
		{Name: "list", Summary: "list tenants", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("tenants list [flags]", "list tenants", env.Stdout, env.Stderr)
			jsonOut := fs.Bool("json", false, "print JSON")
			return command(ctx, env, fs, args, func(b Backend) error {
				ts, err := b.ListTenants(ctx)
				if err != nil {
					return err
				}
				if *jsonOut {
					return printJSON(env.Stdout, map[string]any{"data": nonNil(ts)})
				}
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tRPM\tTPM\tSTREAMS\tBUDGET")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", t.ID, t.Name, status(t.Disabled), t.RPM, t.TPM, t.MaxStreams, budget(t.Limits))
				}
				return tw.Flush()
			})
		}},
		named("update", "change a tenant's limits, labels and IP allow-list (only the flags given)", true, func(b Backend, name string, fs *Flags, lim limitFlags) (*admin.TenantView, error) {
			u := admin.TenantUpdate{}
			fs.Visit(func(f *flag.Flag) {
				lim.given(f.Name, &u.LimitsUpdate)
				switch f.Name {
				case "label":
					u.Labels = labelsOf(fs)
				case "allow-ip":
					c := nonNil(cidrsOf(fs))
					u.AllowedCIDRs = &c
				}
			})
			return b.UpdateTenant(ctx, name, u)
		}),
		named("disable", "refuse every key of a tenant", false, enable(true)),
		named("enable", "accept a disabled tenant's keys again", false, enable(false)),
	}, args)
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
	return "$" + USD(l.BudgetUSD) + "/" + l.BudgetPeriod
}

// USD formats an amount of dollars with two decimals, and below ten cents
// with as many as show two significant digits (0.000001 is "0.000001",
// not "0.00"), trailing zeros past the cents dropped.
func USD(v float64) string {
	dec := 2
	if a := math.Abs(v); a > 0 && a < 0.1 {
		dec = min(int(-math.Floor(math.Log10(a)))+1, 15)
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if dec > 2 {
		s = strings.TrimRight(s, "0")
		if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
			s += strings.Repeat("0", 2-(len(s)-i-1))
		}
	}
	return s
}

// names maps tenant and key IDs to names, for tables that show both.
type names struct{ tenants, keys map[string]string }

func lookupNames(ctx context.Context, b Backend, withKeys bool) (names, error) {
	n := names{tenants: map[string]string{}, keys: map[string]string{}}
	ts, err := b.ListTenants(ctx)
	if err != nil {
		return n, err
	}
	for _, t := range ts {
		n.tenants[t.ID] = t.Name
	}
	if withKeys {
		ks, err := b.ListKeys(ctx, "")
		if err != nil {
			return n, err
		}
		for _, k := range ks {
			n.keys[k.ID] = k.Name
		}
	}
	return n, nil
}

// Keys runs `switchyard keys create|list|revoke|rotate`.
func Keys(ctx context.Context, env *Env, args []string) error {
	return Group(ctx, env.Stdout, env.Stderr, "keys", "Manage virtual keys.", []Sub{
		{Name: "create", Summary: "issue a key for a tenant (created if missing)", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("keys create -tenant T [flags]", "Issue a key for a tenant; the tenant is created if it does not exist.", env.Stdout, env.Stderr)
			tenant := fs.String("tenant", "", "tenant name (required; created if missing)")
			name := fs.String("name", "", "a label for the key")
			lim := addLimitFlags(fs)
			expires := fs.Duration("expires", 0, "key lifetime, e.g. 720h (0: never)")
			models := fs.String("models", "", "comma-separated model globs the key may use (default: all)")
			meta := fs.String("meta", "", "comma-separated k=v metadata")
			fs.Var(labelsFlag{}, "label", "a label k=v, such as team=search, for usage export -by label:k and keys list -label (repeatable; a key's label wins over its tenant's)")
			fs.String("allow-ip", "", "comma-separated CIDRs the key may be used from, e.g. 10.0.0.0/8,2001:db8::/32 (default: anywhere its tenant allows)")
			return command(ctx, env, fs, args, func(b Backend) error {
				if *tenant == "" {
					return errors.New("keys create: -tenant is required")
				}
				spec := admin.KeySpec{Tenant: *tenant, CreateTenant: true, Name: *name, Limits: lim.limits(), AllowedCIDRs: cidrsOf(fs)}
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
				for k, v := range labelsOf(fs) {
					if spec.Metadata == nil {
						spec.Metadata = map[string]string{}
					}
					spec.Metadata[k] = v
				}
				iss, err := b.IssueKey(ctx, spec)
				if err != nil {
					return err
				}
				printIssued(env.Stdout, iss, *tenant, noPairReason(fs))
				return nil
			})
		}},
		{Name: "list", Summary: "list keys (never their secrets)", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("keys list [flags]", "List keys, oldest first; secrets are never shown.", env.Stdout, env.Stderr)
			tenant := fs.String("tenant", "", "only this tenant's keys (name or ID)")
			fs.Var(labelsFlag{}, "label", "only keys with this label k=v (repeatable: every one must match)")
			jsonOut := fs.Bool("json", false, "print JSON")
			return command(ctx, env, fs, args, func(b Backend) error {
				ks, err := b.FindKeys(ctx, admin.KeyQuery{Tenant: *tenant, Labels: labelsOf(fs)})
				if err != nil {
					return err
				}
				sort.SliceStable(ks, func(i, j int) bool { return ks[i].CreatedAt.Before(ks[j].CreatedAt) })
				if *jsonOut {
					return printJSON(env.Stdout, map[string]any{"data": nonNil(ks)})
				}
				n, err := lookupNames(ctx, b, false)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tTENANT\tTENANT ID\tPREFIX\tCREATED\tLAST USED\tSTATUS\tLABELS\tALLOWED IPS")
				now := time.Now()
				for _, k := range ks {
					st := "active"
					switch {
					case k.RevokedAt != nil:
						st = "revoked"
					case k.ExpiresAt != nil && k.ExpiresAt.Before(now):
						st = "expired"
					case k.Previous != nil && k.Previous.ValidUntil.After(now):
						st = "rotating (" + k.Previous.Prefix + "… until " + k.Previous.ValidUntil.UTC().Format(time.RFC3339) + ")"
					}
					used := "never"
					if k.LastUsedAt != nil {
						used = k.LastUsedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, orDash(k.Name), orDash(n.tenants[k.TenantID]), k.TenantID, k.Prefix,
						k.CreatedAt.UTC().Format(time.RFC3339), used, st, orDash(formatLabels(k.Metadata)), allowed(k.AllowedCIDRs))
				}
				return tw.Flush()
			})
		}},
		{Name: "revoke", Summary: "revoke a key by ID or secret", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("keys revoke KEY_ID_OR_KEY [flags]", "Revoke a key, named by its ID or its secret.", env.Stdout, env.Stderr)
			return command(ctx, env, fs, args, func(b Backend) error {
				if fs.NArg() != 1 {
					return errors.New("usage: switchyard keys revoke KEY_ID_OR_KEY [-admin URL | -config F]")
				}
				k, err := b.RevokeKey(ctx, fs.Arg(0))
				if err != nil {
					return err
				}
				n, err := lookupNames(ctx, b, false)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "revoked %s (%s, tenant %s)\n", k.ID, orDash(k.Name), orDash(n.tenants[k.TenantID]))
				return nil
			})
		}},
		{Name: "update", Summary: "change a key's name, labels, IP allow-list, models or limits (only the flags given)", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("keys update KEY_ID [flags]", "Change a key's name, labels, IP allow-list, models or limits; only the flags given change.", env.Stdout, env.Stderr)
			name := fs.String("name", "", "the key's name")
			lim := addLimitFlags(fs)
			models := fs.String("models", "", "comma-separated model globs the key may use (\"\": all)")
			fs.Var(labelsFlag{}, "label", "set a label k=v (repeatable; k= removes it)")
			fs.String("allow-ip", "", "comma-separated CIDRs the key may be used from (\"\" removes the list)")
			return command(ctx, env, fs, args, func(b Backend) error {
				if fs.NArg() != 1 {
					return errors.New("usage: switchyard keys update KEY_ID [flags] [-admin URL | -config F]")
				}
				u := admin.KeyUpdate{}
				fs.Visit(func(f *flag.Flag) {
					lim.given(f.Name, &u.LimitsUpdate)
					switch f.Name {
					case "name":
						u.Name = name
					case "models":
						m := []string{}
						if *models != "" {
							m = strings.Split(*models, ",")
						}
						u.AllowedModels = &m
					case "label":
						u.Labels = labelsOf(fs)
					case "allow-ip":
						c := nonNil(cidrsOf(fs))
						u.AllowedCIDRs = &c
					}
				})
				k, err := b.UpdateKey(ctx, fs.Arg(0), u)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "key %s (%s): labels %s, allowed IPs %s, rpm %d, tpm %d, streams %d, budget %s\n", k.ID, orDash(k.Name),
					orDash(formatLabels(k.Metadata)), allowed(k.AllowedCIDRs), k.RPM, k.TPM, k.MaxStreams, budget(k.Limits))
				return nil
			})
		}},
		{Name: "rotate", Summary: "give a key a new secret; the old one works for -grace", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("keys rotate KEY_ID_OR_KEY [-grace 24h] [flags]", "Give a key a new secret (and a new AWS key pair, if it has one), shown once. The key keeps its ID,\n"+
				"settings, limits, budget and usage. The old secret keeps working until -grace has passed, then is refused.", env.Stdout, env.Stderr)
			grace := fs.Duration("grace", 0, "how long the old secret keeps working, e.g. 24h (0: it stops at once; at most 2160h)")
			return command(ctx, env, fs, args, func(b Backend) error {
				if fs.NArg() != 1 {
					return errors.New("usage: switchyard keys rotate KEY_ID_OR_KEY [-grace 24h] [-admin URL | -config F]")
				}
				iss, err := b.RotateKey(ctx, fs.Arg(0), *grace)
				if err != nil {
					return err
				}
				n, err := lookupNames(ctx, b, false)
				if err != nil {
					return err
				}
				printIssued(env.Stdout, iss, n.tenants[iss.Key.TenantID], noPairReason(fs))
				if p := iss.Key.Previous; p != nil {
					fmt.Fprintf(env.Stdout, "The old secret (%s…) keeps working until %s.\n", p.Prefix, p.ValidUntil.UTC().Format(time.RFC3339))
				} else {
					fmt.Fprintln(env.Stdout, "The old secret no longer works.")
				}
				return nil
			})
		}},
	}, args)
}

// noPairReason says why a key was issued without an AWS key pair: the
// process that sealed it had no master key.
func noPairReason(fs *Flags) string {
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		return "SWITCHYARD_MASTER_KEY is not set here"
	}
	return "the gateway runs without SWITCHYARD_MASTER_KEY"
}

func printIssued(w io.Writer, iss *admin.IssuedView, tenantName, noPairReason string) {
	fmt.Fprintf(w, "key id:   %s\n", iss.Key.ID)
	if iss.Key.Name != "" {
		fmt.Fprintf(w, "name:     %s\n", iss.Key.Name)
	}
	fmt.Fprintf(w, "tenant:   %s (%s)\napi key:  %s\n", orDash(tenantName), iss.Key.TenantID, iss.Secret)
	if iss.AWSAccessKeyID != "" {
		fmt.Fprintf(w, "aws access key id:     %s\naws secret access key: %s\n", iss.AWSAccessKeyID, iss.AWSSecretAccessKey)
	} else {
		fmt.Fprintf(w, "aws key pair: none (%s, so no SigV4 secret can be sealed);\n"+
			"  SigV4 clients can send the api key as a Bedrock API key (Authorization: Bearer) instead.\n", noPairReason)
	}
	fmt.Fprintln(w, "\nThe key is shown only this once; Switchyard keeps only its hash.")
}

// Usage runs `switchyard usage`, and `switchyard usage export`.
func Usage(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "export" {
		return UsageExport(ctx, env, args[1:])
	}
	fs := NewFlags("usage [flags]", "Report traffic and spend from the ledger, grouped, or the contract, compliance and commitment reports.",
		env.Stdout, env.Stderr)
	by := fs.String("by", "", "group by "+strings.ReplaceAll(UsageGroups, "|", ", ")+" (default: one total)")
	since := fs.String("since", "24h", "window start: a duration back from now (24h, 7d) or an RFC 3339 time")
	until := fs.String("until", "", "window end (RFC 3339; default now)")
	tenant := fs.String("tenant", "", "only this tenant")
	model := fs.String("model", "", "only this model")
	jsonOut := fs.Bool("json", false, "print JSON")
	return command(ctx, env, fs, args, func(b Backend) error {
		raw, err := b.Usage(ctx, admin.UsageQuery{Since: *since, Until: *until, By: *by, Tenant: *tenant, Model: *model})
		if err != nil {
			return err
		}
		if *jsonOut {
			if strings.TrimSpace(string(raw)) == "null" {
				raw = json.RawMessage("[]")
			}
			_, err := fmt.Fprintf(env.Stdout, "%s\n", strings.TrimSpace(string(raw)))
			return err
		}
		switch *by {
		case "contract":
			return contractTable(env.Stdout, raw)
		case "compliance":
			return complianceTable(env.Stdout, raw)
		case "budget":
			return budgetTable(env.Stdout, raw)
		case "commitment":
			var cs []commitmentState
			if err := json.Unmarshal(raw, &cs); err != nil {
				return fmt.Errorf("decoding the commitment report: %w", err)
			}
			return commitmentTable(env.Stdout, cs)
		}
		var rep admin.UsageReport
		if err := json.Unmarshal(raw, &rep); err != nil {
			return fmt.Errorf("decoding the usage report: %w", err)
		}
		var n names
		if rep.By == "tenant" || rep.By == "key" {
			if n, err = lookupNames(ctx, b, rep.By == "key"); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stdout, "usage %s .. %s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		head := strings.ToUpper(orAll(rep.By))
		switch rep.By {
		case "tenant":
			head = "TENANT ID\tTENANT"
		case "key":
			head = "KEY ID\tKEY"
		}
		fmt.Fprintln(tw, head+"\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHED\tCOST USD\t")
		for _, r := range rep.Data {
			group := orAll(r.Group)
			switch rep.By {
			case "tenant":
				group += "\t" + orDash(n.tenants[r.Group])
			case "key":
				group += "\t" + orDash(n.keys[r.Group])
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", group, r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.CachedInputTokens, USD(r.CostUSD))
		}
		return tw.Flush()
	})
}

// The contract, compliance and commitment reports as the admin API
// serves them; only the fields the tables show.
type (
	usageSummary struct {
		Group             string  `json:"group"`
		Requests          int64   `json:"requests"`
		Errors            int64   `json:"errors"`
		InputTokens       int64   `json:"input_tokens"`
		OutputTokens      int64   `json:"output_tokens"`
		CachedInputTokens int64   `json:"cached_input_tokens"`
		CostUSD           float64 `json:"cost_usd"`
	}
	commitmentState struct {
		Contract, Provider, Period string
		PeriodEnd                  time.Time        `json:"period_end"`
		AmountUSD                  float64          `json:"amount_usd"`
		SpentUSD                   float64          `json:"spent_usd"`
		PacingUSD                  float64          `json:"pacing_usd"`
		Behind                     bool             `json:"behind"`
		Forecast                   billing.Forecast `json:"forecast"`
	}
	budgetState struct {
		Scope, ID, Name, Tenant, Period string
		PeriodEnd                       *time.Time       `json:"period_end"`
		BudgetUSD                       float64          `json:"budget_usd"`
		SpentUSD                        float64          `json:"spent_usd"`
		Forecast                        billing.Forecast `json:"forecast"`
	}
	violation struct {
		RequestID                              string `json:"request_id"`
		Time, Tenant, Model, Traffic, Provider string
		Status                                 int
		Contracts                              []string
	}
)

func contractTable(w io.Writer, raw []byte) error {
	var rep struct {
		Since, Until time.Time
		Contracts    []usageSummary
		Commitments  []commitmentState
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decoding the contract report: %w", err)
	}
	fmt.Fprintf(w, "contracts %s .. %s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CONTRACT\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHED\tCOST USD\t")
	for _, r := range rep.Contracts {
		group := r.Group
		if group == "" {
			group = "(no contract)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", group, r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.CachedInputTokens, USD(r.CostUSD))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return commitmentTable(w, rep.Commitments)
}

func commitmentTable(w io.Writer, cs []commitmentState) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no commitments configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMITMENT\tPROVIDER\tPERIOD\tENDS\tAMOUNT USD\tSPENT USD\tDUE BY NOW USD\tPACE\tUSD/DAY\tPROJECTED USD\tFORECAST")
	for _, c := range cs {
		pace := "on pace"
		if c.Behind {
			pace = "behind (preferred)"
		}
		forecast := "meets the amount"
		if c.Forecast.EndsShort {
			forecast = "ends short"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Contract, c.Provider, c.Period, c.PeriodEnd.UTC().Format(time.RFC3339),
			USD(c.AmountUSD), USD(c.SpentUSD), USD(c.PacingUSD), pace, USD(c.Forecast.RunRateUSDPerDay), USD(c.Forecast.ProjectedUSD), forecast)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "forecast: %s\n", billing.ForecastMethod)
	return err
}

func budgetTable(w io.Writer, raw []byte) error {
	var bs []budgetState
	if err := json.Unmarshal(raw, &bs); err != nil {
		return fmt.Errorf("decoding the budget report: %w", err)
	}
	if len(bs) == 0 {
		_, err := fmt.Fprintln(w, "no budgets set")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tNAME\tTENANT\tPERIOD\tENDS\tBUDGET USD\tSPENT USD\tUSD/DAY\tPROJECTED USD\tFORECAST")
	for _, b := range bs {
		ends, projected := "never", "-"
		if b.PeriodEnd != nil {
			ends, projected = b.PeriodEnd.UTC().Format(time.RFC3339), USD(b.Forecast.ProjectedUSD)
		}
		forecast := "lasts"
		if b.Forecast.RunsOut && b.Forecast.ExhaustsAt != nil {
			forecast = "runs out " + b.Forecast.ExhaustsAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Scope, orDash(b.Name), orDash(b.Tenant), orDash(b.Period), ends,
			USD(b.BudgetUSD), USD(b.SpentUSD), USD(b.Forecast.RunRateUSDPerDay), projected, forecast)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "forecast: %s\n", billing.ForecastMethod)
	return err
}

func complianceTable(w io.Writer, raw []byte) error {
	var rep struct {
		Since, Until           time.Time
		Checked, Unjudged      int64
		Violations, Unrecorded []violation
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decoding the compliance report: %w", err)
	}
	fmt.Fprintf(w, "compliance %s .. %s: %d requests checked, %d violations, %d against contracts added or widened since, %d unjudged\n",
		rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), rep.Checked, len(rep.Violations), len(rep.Unrecorded), rep.Unjudged)
	for _, part := range []struct {
		title string
		vs    []violation
	}{{"violations", rep.Violations}, {"against contracts added or widened since", rep.Unrecorded}} {
		if len(part.vs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", part.title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUEST\tTIME\tTENANT\tMODEL\tTRAFFIC\tPROVIDER\tSTATUS\tCONTRACTS")
		for _, v := range part.vs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.RequestID, v.Time, orDash(v.Tenant), v.Model, v.Traffic, v.Provider, v.Status,
				strings.Join(v.Contracts, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func orAll(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// labelsFlag collects repeated -label k=v flags. Labels are the tenant's
// or key's metadata entries: one map, which usage export groups by.
type labelsFlag map[string]string

func (l labelsFlag) String() string { return "" }

func (l labelsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want k=v, got %q", v)
	}
	l[strings.TrimSpace(k)] = val
	return nil
}

// cidrsOf returns the -allow-ip list given to fs, nil when none or empty.
func cidrsOf(fs *Flags) []string {
	f := fs.Lookup("allow-ip")
	if f == nil || strings.TrimSpace(f.Value.String()) == "" {
		return nil
	}
	var out []string
	for _, c := range strings.Split(f.Value.String(), ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// allowed renders an IP allow-list for a table.
func allowed(cidrs []string) string {
	if len(cidrs) == 0 {
		return "any"
	}
	return strings.Join(cidrs, ",")
}

// formatLabels renders labels as k=v pairs, sorted.
func formatLabels(md map[string]string) string {
	ks := make([]string, 0, len(md))
	for k, v := range md {
		ks = append(ks, k+"="+v)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// labelsOf returns the -label flags given to fs, nil when none.
func labelsOf(fs *Flags) map[string]string {
	f := fs.Lookup("label")
	if f == nil {
		return nil
	}
	l := f.Value.(labelsFlag)
	if len(l) == 0 {
		return nil
	}
	return l
}

// UsageExport runs `switchyard usage export`: the chargeback of a window
// by a label, as CSV or JSON on stdout.
func UsageExport(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags("usage export -by label:NAME -since DATE [flags]",
		"An invoice-ready breakdown of the ledger by a label's value (a key's own label, else its tenant's), channel and\n"+
			"model: tokens, cost at list price, at the configured price, the negotiated discount, the net price, and what\n"+
			"the ledger charged.", env.Stdout, env.Stderr)
	by := fs.String("by", "", "label:NAME, such as label:cost_centre (required)")
	since := fs.String("since", "", "window start: a date (2026-11-01, midnight UTC), an RFC 3339 time or a duration back from now (required)")
	until := fs.String("until", "", "window end: a date or an RFC 3339 time (default now)")
	format := fs.String("format", "csv", "csv or json")
	return command(ctx, env, fs, args, func(b Backend) error {
		out, err := b.UsageExport(ctx, admin.ExportQuery{By: *by, Since: *since, Until: *until, Format: *format})
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(out)
		return err
	})
}
