// Command screenshots runs the demo, sends it some traffic and writes a
// 1280x800 PNG of every console page into a directory (make screenshots:
// docs/screenshots).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"switchyard/deploy/console"
	"switchyard/internal/app"
)

func main() {
	out := flag.String("out", "docs/screenshots", "directory for the PNGs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

// demoInfo is the part of the demo's demo.json this program reads.
type demoInfo struct {
	Listen      string `json:"listen"`
	AdminListen string `json:"admin_listen"`
	APIKey      string `json:"api_key"`
	AdminToken  string `json:"admin_token"`
}

func run(ctx context.Context, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "switchyard-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	demoCtx, stopDemo := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(demoCtx, []string{"demo", "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-data", dir},
			os.Getenv, io.Discard, io.Discard)
	}()
	defer func() { stopDemo(); <-done }()
	info, err := waitForDemo(ctx, filepath.Join(dir, "demo.json"), done)
	if err != nil {
		return err
	}
	if err := traffic(ctx, "http://"+info.Listen+"/v1", info.APIKey); err != nil {
		return err
	}
	// The ledger is written in batches; give the last one time to land.
	time.Sleep(2 * time.Second)
	tab, closeBrowser := console.Browser(ctx, filepath.Join(dir, "profile"))
	defer closeBrowser()
	admin := "http://" + info.AdminListen
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800), console.SignIn(admin, info.AdminToken)); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	for _, p := range console.Pages {
		if err := chromedp.Do(tab, chromedp.Navigate(admin+p.Path), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
			return fmt.Errorf("%s: %w", p.Path, err)
		}
		shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			return fmt.Errorf("%s: %w", p.Path, err)
		}
		path := filepath.Join(out, p.File+".png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

func waitForDemo(ctx context.Context, path string, done <-chan error) (*demoInfo, error) {
	for {
		if b, err := os.ReadFile(path); err == nil {
			var info demoInfo
			if err := json.Unmarshal(b, &info); err == nil && info.AdminToken != "" {
				return &info, nil
			}
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("the demo stopped: %v", err)
		case <-ctx.Done():
			return nil, errors.New("the demo did not start in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// traffic sends a few Chat Completions requests to each of the demo's
// chat models, so the pages have something to show.
func traffic(ctx context.Context, base, key string) error {
	for i := range 40 {
		model := []string{"gpt-4o-mini", "gpt-5", "claude-sonnet-4", "gemini-2.5-flash"}[i%4]
		body, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{
			{"role": "user", "content": fmt.Sprintf("Request %d: summarise the quarter's cloud spend.", i)}}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/chat/completions", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", model, resp.Status)
		}
	}
	return nil
}
