package console

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/fakecloud"
)

// needBrowser skips without Chromium, unless SWITCHYARD_TEST_BROWSER=1
// (CI) says it must be there.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("SWITCHYARD_TEST_BROWSER") == "1" {
			t.Fatalf("SWITCHYARD_TEST_BROWSER=1 but there is no Chromium at %s: %v", ChromiumPath, err)
		}
		t.Skipf("no Chromium at %s (set SWITCHYARD_TEST_BROWSER=1 to require it)", ChromiumPath)
	}
}

// TestConsoleInChromium signs in, opens every page, issues a key and uses
// it through the OpenAI SDK, finds the call in the request log and opens
// its page, revokes the key and sees the next call refused, resets a
// tripped breaker, explains a route, exports usage as CSV and reloads a
// broken configuration, all in one headless Chromium against one gateway.
func TestConsoleInChromium(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	g, err := Serve(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Errorf("stopping the gateway: %v", err)
		}
	})
	tab, closeBrowser := Browser(ctx, filepath.Join(dir, "profile"))
	defer closeBrowser()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	chat := func(key, model string) error {
		c := openai.NewClient(option.WithBaseURL(g.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello from the console test")}})
		return err
	}
	status := func(err error) int {
		var ae *openai.Error
		if errors.As(err, &ae) {
			return ae.StatusCode
		}
		return 0
	}

	// Sign-in: a wrong token is told so; the right one opens the overview.
	do("wrong token", chromedp.Navigate(g.AdminURL+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#page-error")))
	if got := text("#page-error"); !strings.Contains(got, "That is not the admin token.") {
		t.Errorf("wrong token: %q", got)
	}
	do("sign in", SignIn(g.AdminURL, g.Token))

	// Every page, by its heading.
	for _, p := range Pages {
		do(p.Path, chromedp.Navigate(g.AdminURL+p.Path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if got := text("main h1"); got != p.Heading {
			t.Errorf("%s: heading %q, want %q", p.Path, got, p.Heading)
		}
	}

	// A tenant and a key, its secret shown once; the key works through the
	// OpenAI SDK until it is revoked.
	do("create tenant", chromedp.Navigate(g.AdminURL+"/ui/tenants"),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "browser-co"), chromedp.Submit(chromedp.CSS(`input[name="name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/keys"]`)))
	tenantURL, err := chromedp.Run(tab, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	do("issue key", chromedp.SendKeys(chromedp.CSS(`form[action$="/keys"] input[name="name"]`), "sdk"),
		chromedp.Submit(chromedp.CSS(`form[action$="/keys"] input[name="name"]`)), chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret, awsID := text("#secret"), text("#aws-id")
	if !strings.HasPrefix(secret, "sk-sy-") || awsID == "" || text("#aws-secret") == "" {
		t.Fatalf("issued key: secret %q, AWS id %q", secret, awsID)
	}
	if err := chat(secret, "gpt-4o-mini"); err != nil {
		t.Fatalf("the new key through the OpenAI SDK: %v", err)
	}
	// The call is in the request log (written in batches: it shows within a
	// few seconds), and its page shows the attempt that served it.
	var rows []*chromedp.Node
	for deadline := time.Now().Add(10 * time.Second); len(rows) == 0 && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		do("requests", chromedp.Navigate(g.AdminURL+"/ui/requests?tenant=browser-co"), chromedp.WaitVisible(chromedp.CSS("#requests")))
		if rows, err = chromedp.Run(tab, chromedp.Nodes(chromedp.CSSAll("#requests tbody a"), chromedp.AtLeast(0))); err != nil {
			t.Fatal(err)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("the request log shows %d request(s) of browser-co, want 1", len(rows))
	}
	if got := text("#requests tbody"); !strings.Contains(got, "gpt-4o-mini") || !strings.Contains(got, "200") {
		t.Errorf("request log row: %q", got)
	}
	do("request detail", chromedp.Click(chromedp.CSS("#requests tbody a")), chromedp.WaitVisible(chromedp.CSS("#attempts")))
	if got := text("main h1"); !strings.HasPrefix(got, "Request ") {
		t.Errorf("request page heading %q", got)
	}
	if got := text("#attempts tbody"); !strings.Contains(got, "-sim") || !strings.Contains(got, "200") {
		t.Errorf("request attempts: %q", got)
	}
	do("revoke", chromedp.Navigate(tenantURL), chromedp.Click(chromedp.CSS(`button[aria-label^="Revoke key"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(".flash"); !strings.Contains(got, "revoked") {
		t.Errorf("after revoke: %q", got)
	}
	// Key lookups are cached for a second (auth.DefaultCacheTTL): the
	// revocation shows within a few.
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		err := chat(secret, "gpt-4o-mini")
		refused = status(err) == http.StatusUnauthorized
		if err != nil && !refused {
			t.Fatalf("a revoked key: %v, want 401", err)
		}
	}
	if !refused {
		t.Error("the revoked key still works after 5 s")
	}

	// A channel that fails every request trips its breaker; the console
	// shows it open and resets it.
	key := issueKey(t, ctx, g, "browser-co")
	g.Cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 500})
	for range 25 {
		_ = chat(key, "solo")
	}
	g.Cloud.SetFaults("openai", fakecloud.Faults{})
	do("open breaker", chromedp.Navigate(g.AdminURL+"/ui/channels"), chromedp.WaitVisible(chromedp.CSS("span.state.open")))
	do("reset", chromedp.Click(chromedp.CSS(`button[aria-label="Reset the breaker of openai-sim"]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if open, err := chromedp.Run(tab, chromedp.Nodes(chromedp.CSSAll("span.state.open"), chromedp.AtLeast(0))); err != nil || len(open) != 0 {
		t.Errorf("after the reset %d breaker(s) still open (%v)", len(open), err)
	}
	if err := chat(key, "solo"); err != nil {
		t.Errorf("a request after the reset: %v", err)
	}

	// Route explain, step by step.
	do("explain", chromedp.Navigate(g.AdminURL+"/ui/models"), chromedp.SetValue(chromedp.CSS(`input[name="model"]`), "gpt-4o-mini"),
		chromedp.SetValue(chromedp.CSS(`select[name="traffic"]`), "stateful"), chromedp.Submit(chromedp.CSS(`input[name="model"]`)),
		chromedp.WaitVisible(chromedp.CSS("#explanation")))
	if got := text("#explanation"); !strings.Contains(got, "Step by step") || !strings.Contains(got, "azure-sim") || !strings.Contains(got, "stateful") {
		t.Errorf("explanation: %q", got)
	}

	// Usage as CSV, downloaded by the browser.
	downloads := filepath.Join(dir, "downloads")
	progress := chromedp.Events(tab, browser.DownloadProgress)
	do("csv", chromedp.Navigate(g.AdminURL+"/ui/usage?by=model&since=1h"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			events := true
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events})
			return err
		}),
		chromedp.Click(chromedp.CSS("#csv")))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			csv, err := os.ReadFile(filepath.Join(downloads, ev.GUID))
			if err != nil {
				t.Fatal(err)
			}
			if s := string(csv); !strings.HasPrefix(s, "model,group_id,requests,") || !strings.Contains(s, "\ngpt-4o-mini,gpt-4o-mini,") {
				t.Errorf("usage CSV:\n%s", s)
			}
			break
		}
	}

	// A broken file is refused with its errors, and the gateway keeps
	// serving.
	good, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.ConfigPath, append(good, []byte("bogus_setting: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	do("reload", chromedp.Navigate(g.AdminURL+"/ui/config"), chromedp.Click(chromedp.CSS(`form[action="/ui/config/reload"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#reload-errors")))
	if got := text("#reload-errors"); !strings.Contains(got, "bogus_setting") {
		t.Errorf("reload errors: %q", got)
	}
	if err := chat(key, "gpt-4o-mini"); err != nil {
		t.Errorf("after the refused reload: %v", err)
	}

	// Everything above is in the audit log, and its chain holds.
	do("audit", chromedp.Navigate(g.AdminURL+"/ui/audit"), chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#verdict")))
	if got := text("#verdict"); !strings.Contains(got, "The chain holds") {
		t.Errorf("audit verdict: %q", got)
	}
	if got := text("#audit"); !strings.Contains(got, "console.signin") || !strings.Contains(got, "config.reload") || !strings.Contains(got, "keys.write") {
		t.Errorf("audit log: %q", got)
	}
}
