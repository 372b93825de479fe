package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/admin"
)

// AdminTokensSummary and AuditSummary are the one-line descriptions the
// top-level help lists.
const (
	AdminTokensSummary = "manage scoped admin tokens: admin-tokens create -role R [-tenant T]|list|revoke (-admin URL | -config F)"
	AuditSummary       = "read and verify the audit log: audit [-subject S -action A -since 24h]; audit verify (-admin URL | -config F)"
)

// AccessBackend is what the admin-tokens and audit commands need, over
// HTTP or the store.
type AccessBackend interface {
	CreateAdminToken(ctx context.Context, spec admin.AdminTokenSpec) (*admin.IssuedAdminToken, error)
	ListAdminTokens(ctx context.Context) ([]admin.AdminTokenView, error)
	RevokeAdminToken(ctx context.Context, id string) (*admin.AdminTokenView, error)
	Audit(ctx context.Context, q admin.AuditQuery) (*admin.AuditPage, error)
	VerifyAudit(ctx context.Context) (*admin.AuditVerdict, error)
}

func (c *Client) CreateAdminToken(ctx context.Context, spec admin.AdminTokenSpec) (*admin.IssuedAdminToken, error) {
	var out admin.IssuedAdminToken
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/admin-tokens", spec, &out)
}

func (c *Client) ListAdminTokens(ctx context.Context) ([]admin.AdminTokenView, error) {
	var out struct{ Data []admin.AdminTokenView }
	return out.Data, c.do(ctx, http.MethodGet, "/admin/v1/admin-tokens", nil, &out)
}

func (c *Client) RevokeAdminToken(ctx context.Context, id string) (*admin.AdminTokenView, error) {
	var out admin.AdminTokenView
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/admin-tokens/"+url.PathEscape(id)+"/revoke", nil, &out)
}

func (c *Client) Audit(ctx context.Context, q admin.AuditQuery) (*admin.AuditPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"subject": q.Subject, "action": q.Action, "target": q.Target, "since": q.Since,
		"until": q.Until, "limit": q.Limit, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var page admin.AuditPage
	return &page, c.do(ctx, http.MethodGet, "/admin/v1/audit?"+v.Encode(), nil, &page)
}

func (c *Client) VerifyAudit(ctx context.Context) (*admin.AuditVerdict, error) {
	var out admin.AuditVerdict
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/audit/verify", nil, &out)
}

func (d *Direct) CreateAdminToken(ctx context.Context, spec admin.AdminTokenSpec) (*admin.IssuedAdminToken, error) {
	return d.Service.CreateAdminToken(ctx, spec)
}

func (d *Direct) ListAdminTokens(ctx context.Context) ([]admin.AdminTokenView, error) {
	return d.Service.ListAdminTokens(ctx)
}

func (d *Direct) RevokeAdminToken(ctx context.Context, id string) (*admin.AdminTokenView, error) {
	return d.Service.RevokeAdminToken(ctx, id)
}

func (d *Direct) Audit(ctx context.Context, q admin.AuditQuery) (*admin.AuditPage, error) {
	return d.Service.Audit(ctx, q)
}

func (d *Direct) VerifyAudit(ctx context.Context) (*admin.AuditVerdict, error) {
	return d.Service.VerifyAudit(ctx)
}

// accessCommand is command for the admin-tokens and audit commands.
func accessCommand(ctx context.Context, env *Env, fs *Flags, args []string, run func(b AccessBackend) error) error {
	return command(ctx, env, fs, args, func(b Backend) error {
		ab, ok := b.(AccessBackend)
		if !ok {
			return errors.New("this backend cannot manage admin tokens or read the audit log")
		}
		return run(ab)
	})
}

// listFlag collects a repeatable string flag.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = append(*l.v, s)
	return nil
}

// AdminTokens runs `switchyard admin-tokens create|list|revoke`.
func AdminTokens(ctx context.Context, env *Env, args []string) error {
	return Group(ctx, env.Stdout, env.Stderr, "admin-tokens", "Manage scoped admin tokens (only an admin may).", []Sub{
		{Name: "create", Summary: "create a token for a role (shown once)", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("admin-tokens create -role ROLE [-tenant T ...] [flags]",
				"Create a scoped admin token; its secret is printed once and stored only as a hash.", env.Stdout, env.Stderr)
			role := fs.String("role", "", "viewer, tenant-admin, operator or admin (required)")
			var tenants []string
			fs.Var(listFlag{&tenants}, "tenant", "a tenant a tenant-admin token is scoped to (repeatable; required for tenant-admin)")
			name := fs.String("name", "", "a label for the token")
			return accessCommand(ctx, env, fs, args, func(b AccessBackend) error {
				if *role == "" {
					return errors.New("admin-tokens create: -role is required")
				}
				out, err := b.CreateAdminToken(ctx, admin.AdminTokenSpec{Name: *name, Role: *role, Tenants: tenants})
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "admin token %s (%s", out.Token.ID, out.Token.Role)
				if len(out.Token.Tenants) > 0 {
					fmt.Fprintf(env.Stdout, " of %s", strings.Join(out.Token.Tenants, ", "))
				}
				fmt.Fprintf(env.Stdout, ")\n  %s\nStore it now: it is not shown again.\n", out.Secret)
				return nil
			})
		}},
		{Name: "list", Summary: "list admin tokens (never their secrets)", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("admin-tokens list [flags]", "List admin tokens, oldest first; secrets are never shown.", env.Stdout, env.Stderr)
			jsonOut := fs.Bool("json", false, "print JSON")
			return accessCommand(ctx, env, fs, args, func(b AccessBackend) error {
				ts, err := b.ListAdminTokens(ctx)
				if err != nil {
					return err
				}
				if *jsonOut {
					return printJSON(env.Stdout, map[string]any{"data": nonNil(ts)})
				}
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tTENANTS\tPREFIX\tCREATED BY\tCREATED\tSTATUS")
				for _, t := range ts {
					status := "active"
					if t.RevokedAt != nil {
						status = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, strings.Join(t.Tenants, ","), t.Prefix,
						t.CreatedBy, t.CreatedAt.UTC().Format(time.RFC3339), status)
				}
				return tw.Flush()
			})
		}},
		{Name: "revoke", Summary: "revoke an admin token by id", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("admin-tokens revoke TOKEN_ID [flags]", "Revoke an admin token; every replica refuses it from its next request.", env.Stdout, env.Stderr)
			return accessCommand(ctx, env, fs, args, func(b AccessBackend) error {
				if fs.NArg() != 1 {
					return errors.New("usage: switchyard admin-tokens revoke TOKEN_ID")
				}
				t, err := b.RevokeAdminToken(ctx, fs.Arg(0))
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "admin token %s revoked\n", t.ID)
				return nil
			})
		}},
	}, args)
}

// Audit runs `switchyard audit [list] [flags]` and `switchyard audit
// verify`, which fails naming the first bad record.
func Audit(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		fs := NewFlags("audit verify [flags]", "Check the audit log's hash chain; fails naming the first bad record.", env.Stdout, env.Stderr)
		return accessCommand(ctx, env, fs, args[1:], func(b AccessBackend) error {
			v, err := b.VerifyAudit(ctx)
			if err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("audit chain broken at record %d: %s", v.FirstBad.Seq, v.FirstBad.Reason)
			}
			fmt.Fprintf(env.Stdout, "audit chain ok: %d records, head %s\n", v.Records, v.Head)
			return nil
		})
	}
	if len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	fs := NewFlags("audit [list] [flags] | audit verify [flags]", "List the audit log, newest first; 'audit verify' checks its hash chain.", env.Stdout, env.Stderr)
	subject := fs.String("subject", "", "only this subject (admin-token, token:ID, oidc:SUB, local)")
	action := fs.String("action", "", "only this action, such as keys.write")
	target := fs.String("target", "", "only this target")
	since := fs.String("since", "", "a duration back from now (24h, 7d), an RFC 3339 time or a date")
	until := fs.String("until", "", "an RFC 3339 time or a date")
	limit := fs.Int("limit", 100, "records to show, 1 to 1000")
	jsonOut := fs.Bool("json", false, "print JSON")
	return accessCommand(ctx, env, fs, args, func(b AccessBackend) error {
		if fs.NArg() > 0 {
			return fmt.Errorf("audit: unexpected argument %q (subcommands: list, verify)", fs.Arg(0))
		}
		page, err := b.Audit(ctx, admin.AuditQuery{Subject: *subject, Action: *action, Target: *target, Since: *since, Until: *until,
			Limit: fmt.Sprint(*limit)})
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(env.Stdout, page)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tSUBJECT\tROLE\tACTION\tTARGET\tOUTCOME\tSOURCE\tCHANGE")
		for _, e := range page.Data {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Subject, e.Role,
				e.Action, e.Target, e.Outcome, e.Source, string(e.Change))
		}
		return tw.Flush()
	})
}
