package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"switchyard/internal/admin"
)

// ChannelsSummary is the channels command's line in the top-level help.
const ChannelsSummary = "show channel health and reset a circuit breaker: channels list|reset NAME (-admin URL)"

// Channels runs `switchyard channels list|reset`. Breakers live in the
// running gateway, so there is no -config mode.
func Channels(ctx context.Context, env *Env, args []string) error {
	open := func(fs *Flags, args []string) (*Client, bool, error) {
		adminURL := fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "admin API base URL, e.g. http://127.0.0.1:8081 (env SWITCHYARD_ADMIN_URL)")
		token := fs.String("token", "", "admin token (default: env SWITCHYARD_ADMIN_TOKEN, else the token switchyard login stored)")
		if help, err := fs.Parse(args); help || err != nil {
			return nil, help, err
		}
		if *adminURL == "" {
			return nil, false, errors.New("give -admin URL: breakers live in the running gateway")
		}
		tok, err := adminToken(ctx, env, *adminURL, *token)
		if err != nil {
			return nil, false, err
		}
		return NewClient(*adminURL, tok), false, nil
	}
	return Group(ctx, env.Stdout, env.Stderr, "channels", "Channel health and circuit breakers of a running gateway.", []Sub{
		{Name: "list", Summary: "list channels with their breaker state, error rate and latency", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("channels list [flags]", "list channels with their breaker state, error rate and latency", env.Stdout, env.Stderr)
			jsonOut := fs.Bool("json", false, "print JSON")
			c, help, err := open(fs, args)
			if help || err != nil {
				return err
			}
			defer c.Close()
			var out struct {
				Data []admin.ChannelStatus `json:"data"`
			}
			if err := c.do(ctx, http.MethodGet, "/admin/v1/channels", nil, &out); err != nil {
				return err
			}
			if *jsonOut {
				return printJSON(env.Stdout, map[string]any{"data": nonNil(out.Data)})
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CHANNEL\tBREAKER\tERROR RATE\tFAILURES IN A ROW\tTRIPS\tLATENCY\tTTFB")
			for _, ch := range out.Data {
				fmt.Fprintf(tw, "%s\t%s\t%s of %d\t%d\t%d\t%s\t%s\n", ch.Name, ch.State, strconv.FormatFloat(100*ch.ErrorRate, 'f', 1, 64)+"%",
					ch.WindowRequests, ch.ConsecutiveFailures, ch.Trips, millis(ch.LatencyMS), millis(ch.TTFBMS))
			}
			return tw.Flush()
		}},
		{Name: "reset", Summary: "close a channel's circuit breaker now", Run: func(ctx context.Context, args []string) error {
			fs := NewFlags("channels reset NAME [flags]", "close a channel's circuit breaker now", env.Stdout, env.Stderr)
			c, help, err := open(fs, args)
			if help || err != nil {
				return err
			}
			defer c.Close()
			if fs.NArg() != 1 {
				return errors.New("usage: switchyard channels reset NAME")
			}
			if err := c.do(ctx, http.MethodPost, "/admin/v1/channels/"+url.PathEscape(fs.Arg(0))+"/reset", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "channel %s: breaker reset (closed)\n", fs.Arg(0))
			return nil
		}},
	}, args)
}

func millis(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}
