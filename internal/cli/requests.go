package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/admin"
)

// RequestsSummary is the top-level help line of `switchyard requests`.
const RequestsSummary = "search the request log: requests [-tenant T -model M -status 429 -since 1h] | requests show ID (-admin URL | -config F)"

// Requests runs `switchyard requests` (a page of the request log, newest
// first) and `switchyard requests show ID` (one record, with its captured
// payload).
func Requests(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return requestShow(ctx, env, args[1:])
	}
	fs := NewFlags("requests [flags] | requests show ID [flags]",
		"List the request log, newest first: what each request asked for, where it was routed, every attempt, tokens, cost and timing.",
		env.Stdout, env.Stderr)
	tenant := fs.String("tenant", "", "only this tenant (name or ID)")
	key := fs.String("key", "", "only this key ID")
	model := fs.String("model", "", "only this model")
	channel := fs.String("channel", "", "only requests served by this channel")
	status := fs.String("status", "", "only this HTTP status (429)")
	since := fs.String("since", "", "window start: a duration back from now (1h, 7d) or an RFC 3339 time")
	until := fs.String("until", "", "window end (RFC 3339)")
	limit := fs.Int("limit", 50, "records per page (1 to 1000)")
	cursor := fs.String("cursor", "", "continue after the page that printed this cursor")
	jsonOut := fs.Bool("json", false, "print JSON")
	return command(ctx, env, fs, args, func(b Backend) error {
		page, err := b.Requests(ctx, admin.RequestQuery{Tenant: *tenant, Key: *key, Model: *model, Channel: *channel,
			Status: *status, Since: *since, Until: *until, Limit: strconv.Itoa(*limit), Cursor: *cursor})
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(env.Stdout, page)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tID\tTENANT\tKEY\tMODEL\tCHANNEL\tSTATUS\tATTEMPTS\tIN\tOUT\tCOST USD\tLATENCY\tTTFT\tSTREAM\t")
		for _, r := range page.Data {
			status := strconv.Itoa(r.Status)
			if r.ErrorKind != "" {
				status += " " + r.ErrorKind
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%v\t\n", r.Time.Format(time.RFC3339), r.ID,
				orDash(r.TenantID), orDash(r.KeyID), orDash(r.Model), orDash(r.Channel), status, len(r.Attempts), r.Tokens.Input,
				r.Tokens.Output, USD(r.CostUSD), msText(r.LatencyMS), msText(r.TTFTMS), r.Stream)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.NextCursor != "" {
			fmt.Fprintf(env.Stdout, "more: -cursor %s\n", page.NextCursor)
		}
		return nil
	})
}

func requestShow(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags("requests show ID [flags]", "Show one request's record, with its captured payload when there is one.",
		env.Stdout, env.Stderr)
	jsonOut := fs.Bool("json", false, "print JSON")
	return command(ctx, env, fs, args, func(b Backend) error {
		if fs.NArg() != 1 {
			return errors.New("usage: switchyard requests show ID [-admin URL | -config F]")
		}
		r, err := b.Request(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(env.Stdout, r)
		}
		printRequest(env.Stdout, r)
		return nil
	})
}

func printRequest(w io.Writer, r *admin.RequestRecord) {
	line := func(k, v string) { fmt.Fprintf(w, "%-15s %s\n", k+":", v) }
	line("id", r.ID)
	line("time", r.Time.Format(time.RFC3339Nano))
	line("tenant", orDash(r.TenantID))
	line("key", orDash(r.KeyID))
	line("dialect", r.Dialect+" "+r.Endpoint)
	line("model", orDash(r.Model))
	line("channel", orDash(r.Channel)+" ("+orDash(r.UpstreamModel)+")")
	status := strconv.Itoa(r.Status)
	if r.ErrorKind != "" {
		status += " " + r.ErrorKind
	}
	if r.Error != "" {
		status += ": " + r.Error
	}
	line("status", status)
	line("stream", strconv.FormatBool(r.Stream))
	line("tokens", fmt.Sprintf("input %d, output %d, cached input %d, cache write %d, reasoning %d",
		r.Tokens.Input, r.Tokens.Output, r.Tokens.CachedInput, r.Tokens.CacheWrite, r.Tokens.Reasoning))
	line("cost", "$"+USD(r.CostUSD))
	line("latency", msText(r.LatencyMS)+" (first token "+msText(r.TTFTMS)+")")
	if r.TraceID != "" {
		line("trace", r.TraceID)
	}
	if rt := r.Route; rt != nil {
		line("route", rt.Summary)
		for _, c := range rt.Candidates {
			what := "in order"
			if c.Skipped != "" {
				what = "skipped: " + c.Skipped
				if c.Detail != "" {
					what += " (" + c.Detail + ")"
				}
			}
			fmt.Fprintf(w, "  candidate %s (%s): %s\n", c.Channel, c.UpstreamModel, what)
		}
	}
	for i, a := range r.Attempts {
		s := fmt.Sprintf("  attempt %d %s (%s): %d", i+1, a.Channel, a.UpstreamModel, a.Status)
		if a.ErrorKind != "" {
			s += " " + a.ErrorKind
		}
		s += " in " + a.Duration.Round(time.Microsecond).String()
		if a.Fallback != "" {
			s += ", fell back: " + a.Fallback
		}
		fmt.Fprintln(w, s)
	}
	if p := r.Payload; p != nil {
		note := ""
		if p.Truncated {
			note = fmt.Sprintf(" (truncated; %d and %d bytes received)", p.RequestBytes, p.ResponseBytes)
		}
		fmt.Fprintf(w, "payload%s:\n--- request\n%s\n--- response\n%s\n", note, strings.TrimRight(p.Request, "\n"), strings.TrimRight(p.Response, "\n"))
	}
}

// msText renders milliseconds for a table.
func msText(ms float64) string {
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Microsecond).String()
}
