package console

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// audit is run in each page: what keeps it from being used by keyboard,
// by a screen reader or in a half-screen window. Controls inside a
// scrolling wrapper (.scroll) may be wider than the window; the page
// itself may not.
const audit = `(() => {
  const p = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) {
    const wide = [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll'));
    p.push('the page is ' + root.scrollWidth + 'px wide in a ' + window.innerWidth + 'px window: ' + wide.slice(0, 3).map(e => e.tagName + '.' + e.className).join(', '));
  }
  for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!e.labels.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')) p.push('no label: ' + e.tagName + ' ' + (e.name || e.id));
  }
  for (const e of document.querySelectorAll('[tabindex]')) {
    if (e.tabIndex > 0) p.push('positive tabindex: ' + e.tagName);
  }
  for (const e of document.querySelectorAll('button, a[href]')) {
    if (!e.textContent.trim() && !e.getAttribute('aria-label')) p.push('no name: ' + e.tagName);
  }
  const ids = new Set();
  for (const e of document.querySelectorAll('[id]')) {
    if (ids.has(e.id)) p.push('duplicate id: ' + e.id);
    ids.add(e.id);
  }
  if (document.querySelectorAll('script').length) p.push('the page has a script');
  if (!document.documentElement.lang) p.push('no lang');
  return p;
})()`

// focusRing is the focused element and whether it shows an outline.
const focusRing = `(() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return (e.tagName + (e.className ? '.' + e.className : '')) + ' ' + (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2);
})()`

// TestConsoleAccessibleAtHalfScreen opens every page in a 640-pixel
// window (a laptop's half screen) with JavaScript off, signed in with the
// sign-in form alone, and checks that each page fits the window, labels
// every control, names every button and link, and reaches every control
// by the keyboard with a visible focus ring; then that the theme form
// picks light or dark over the system's preference, and back.
func TestConsoleAccessibleAtHalfScreen(t *testing.T) {
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
	eval := func(what, js string) string {
		t.Helper()
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	media := func(scheme string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		})
	}
	do("half screen, no script", chromedp.EmulateViewport(640, 900),
		chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	do("sign in", SignIn(g.AdminURL, g.Token))
	// A tenant, made with the form and no script, for its own page.
	do("create tenant", chromedp.Navigate(g.AdminURL+"/ui/tenants"),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "half-screen-co"), chromedp.Submit(chromedp.CSS(`input[name="name"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/keys"]`)))
	tenantURL, err := chromedp.Run(tab, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/ui/requests", strings.TrimPrefix(tenantURL, g.AdminURL)}
	for _, p := range Pages {
		paths = append(paths, p.Path)
	}
	for _, scheme := range []string{"light", "dark"} {
		do(scheme, media(scheme))
		for _, path := range paths {
			do(path, chromedp.Navigate(g.AdminURL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			var problems []string
			if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
				var err error
				problems, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](audit))
				return err
			})); err != nil {
				t.Fatalf("%s: audit: %v", path, err)
			}
			for _, p := range problems {
				t.Errorf("%s (%s): %s", path, scheme, p)
			}
		}
	}

	// The keyboard: the first Tab reaches the skip link, Enter on it moves
	// to the content, and every stop after shows a focus ring.
	do("overview", chromedp.Navigate(g.AdminURL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.KeyEvent("\t"))
	if got := eval("first tab", focusRing); got != "A.skip true" {
		t.Errorf("the first Tab focuses %q, want the skip link with a focus ring", got)
	}
	seen := map[string]int{}
	for range 40 {
		do("tab", chromedp.KeyEvent("\t"))
		got := eval("tab", focusRing)
		if strings.HasPrefix(got, "BODY") {
			break // past the last stop
		}
		tag, _, _ := strings.Cut(strings.Fields(got)[0], ".")
		seen[tag]++
		if !strings.HasSuffix(got, " true") {
			t.Errorf("focused %s has no focus ring", got)
		}
	}
	// The brand, the eight sections and the theme and sign-out forms.
	if seen["A"] < 9 || seen["SELECT"] < 1 || seen["BUTTON"] < 2 {
		t.Errorf("Tab reached %v, want at least 9 links, a select and 2 buttons", seen)
	}

	// Themes: the system's, then light and dark picked in the form, which
	// win over it; "as the system" forgets the choice.
	background := func() string {
		return eval("background", `getComputedStyle(document.body).backgroundColor`)
	}
	const white, dark = "rgb(255, 255, 255)", "rgb(15, 19, 24)"
	pick := func(theme string) {
		t.Helper()
		do("theme "+theme, chromedp.Navigate(g.AdminURL+"/ui/channels"), chromedp.WaitVisible(chromedp.CSS("#theme-choice")),
			chromedp.SetValue(chromedp.CSS("#theme-choice"), theme), chromedp.Submit(chromedp.CSS("#theme-choice")),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		if got := eval("heading", `document.querySelector('main h1').textContent`); got != "Channels" {
			t.Errorf("the theme form returned to %q, want Channels", got)
		}
	}
	do("system dark", media("dark"), chromedp.Navigate(g.AdminURL+"/ui/"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if got := background(); got != dark {
		t.Errorf("system dark: background %s, want %s", got, dark)
	}
	pick("light")
	if got := background(); got != white {
		t.Errorf("light picked on a dark system: background %s, want %s", got, white)
	}
	do("system light", media("light"))
	pick("dark")
	if got := background(); got != dark {
		t.Errorf("dark picked on a light system: background %s, want %s", got, dark)
	}
	pick("system")
	if got := background(); got != white {
		t.Errorf("back to the system's (light): background %s, want %s", got, white)
	}
}
