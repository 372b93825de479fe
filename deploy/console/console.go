// Package console drives the operator console in a real headless
// Chromium: the browser tests of the console, and the program that takes
// the screenshots in docs/screenshots. It lives in the deploy module so
// that chromedp never becomes a dependency of the gateway.
package console

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"switchyard/internal/app"
	"switchyard/internal/fakecloud"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Browser starts a headless Chromium with a fresh profile in dir and a
// 1280x800 window, and returns a tab's context. cancel closes the tab
// and stops the browser.
func Browser(ctx context.Context, dir string) (context.Context, context.CancelFunc) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	return tab, func() { cancelTab(); cancelAlloc() }
}

// Gateway is a gateway serving from a config file over simulated clouds,
// run in this process.
type Gateway struct {
	// URL and AdminURL are the listeners' base URLs.
	URL, AdminURL string
	// Token is the admin token; ConfigPath the file serve reads.
	Token, ConfigPath string
	// Cloud is the simulated clouds, whose faults a test sets.
	Cloud *fakecloud.Server
	stop  func() error
}

// Config is the console tests' gateway: two channels for one model, one
// model on a single channel (its breaker is the one a test trips), and a
// commitment so that the contracts page has a burn-down.
const Config = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: CONSOLE_ADMIN_TOKEN}
store: {driver: sqlite, dsn: DIR/switchyard.db}
providers:
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY, region: eastus}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY, region: us}
models:
  - name: gpt-4o-mini
    offerings:
      - {provider: azure-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.60}}
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.60}}
  - name: solo
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
contracts:
  - name: azure-commitment
    commitment: {provider: azure-sim, amount_usd: 100, period: month, pacing: even}
`

var servingLine = regexp.MustCompile(`serving on (\S+) \(admin (\S+)\)`)

// Serve writes Config into dir and runs `switchyard serve` on it until
// Stop; it returns once both listeners are up.
func Serve(ctx context.Context, dir string) (*Gateway, error) {
	return ServeConfig(ctx, dir, Config, nil)
}

// ServeConfig is Serve with another configuration (FAKECLOUD and DIR are
// replaced as in Config) and further environment variables.
func ServeConfig(ctx context.Context, dir, config string, extraEnv map[string]string) (*Gateway, error) {
	cloud, cloudLn, err := fakecloud.Listen("127.0.0.1:0", fakecloud.Options{Seed: 1})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "switchyard.yaml")
	yaml := strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", dir).Replace(config)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		cloudLn.Close()
		return nil, err
	}
	token := "console-browser-" + hex.EncodeToString([]byte(time.Now().Format(time.RFC3339Nano)))[:24]
	master := strings.Repeat("ab", 32)
	env := func(k string) string {
		switch k {
		case "CONSOLE_ADMIN_TOKEN":
			return token
		case "SIM_KEY":
			return fakecloud.DefaultKey
		case "SWITCHYARD_MASTER_KEY":
			return master
		}
		return extraEnv[k]
	}
	runCtx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := app.Run(runCtx, []string{"serve", "-config", path}, env, io.Discard, pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				once.Do(func() { found <- m })
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	stop := func() error {
		cancel()
		err := <-done
		cloudLn.Close()
		return err
	}
	select {
	case m := <-found:
		return &Gateway{URL: m[1], AdminURL: m[2], Token: token, ConfigPath: path, Cloud: cloud, stop: stop}, nil
	case err := <-done:
		cancel()
		cloudLn.Close()
		return nil, fmt.Errorf("serve stopped: %v", err)
	case <-time.After(30 * time.Second):
		_ = stop()
		return nil, fmt.Errorf("serve did not start within 30s")
	}
}

// Stop shuts the gateway down.
func (g *Gateway) Stop() error { return g.stop() }

// SignIn opens the console and signs in with the admin token.
func SignIn(adminURL, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(adminURL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Console sections"]`)),
	)
}

// Pages are the console's pages: path and the heading each shows.
var Pages = []struct{ Path, Heading, File string }{
	{"/ui/", "Overview", "overview"},
	{"/ui/channels", "Channels", "channels"},
	{"/ui/models?model=gpt-5&traffic=stateful", "Models and routes", "models"},
	{"/ui/contracts", "Contracts", "contracts"},
	{"/ui/tenants", "Tenants and keys", "tenants"},
	{"/ui/usage?by=model&since=24h", "Usage", "usage"},
	{"/ui/config", "Configuration", "config"},
}
