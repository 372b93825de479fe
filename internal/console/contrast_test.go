package console

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// palettes reads the stylesheet's colour variables: the light palette
// (the first :root block), the dark one the system picks and the dark one
// the theme form picks.
func palettes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := staticFS.ReadFile("static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	src := string(css)
	block := func(selector string) map[string]string {
		i := strings.Index(src, selector+" {")
		if i < 0 {
			t.Fatalf("the stylesheet has no %q block", selector)
		}
		body := src[i+len(selector)+2:]
		body = body[:strings.Index(body, "}")]
		vars := map[string]string{}
		for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(body, -1) {
			vars[m[1]] = m[2]
		}
		return vars
	}
	return map[string]map[string]string{
		"light":         block(":root"),
		"dark (system)": block(`:root:not([data-theme="light"])`),
		"dark (picked)": block(`:root[data-theme="dark"]`),
	}
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(0) + 0.7152*ch(1) + 0.0722*ch(2)
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestColourContrast checks every pair of colours the stylesheet puts
// text on against WCAG 2 AA (4.5:1), and controls' borders, the focus
// ring and chart marks against their background (3:1), in both themes.
func TestColourContrast(t *testing.T) {
	text := [][2]string{
		{"fg", "bg"}, {"fg", "card"}, {"muted", "bg"}, {"muted", "card"}, {"accent", "bg"}, {"accent", "card"},
		{"accent-fg", "accent"}, {"bg", "bad"}, {"fg", "bad-bg"}, {"ok", "bg"}, {"bad", "bg"}, {"warn", "bg"},
	}
	marks := [][2]string{{"border", "bg"}, {"focus", "bg"}, {"focus", "card"}, {"bar", "bg"}, {"bar-err", "bg"}, {"pacing", "bg"}, {"ok", "card"}}
	ps := palettes(t)
	if ps["dark (system)"]["bg"] != ps["dark (picked)"]["bg"] || len(ps["dark (system)"]) != len(ps["dark (picked)"]) {
		t.Errorf("the picked dark palette differs from the system's:\n%v\n%v", ps["dark (system)"], ps["dark (picked)"])
	}
	for name, p := range ps {
		for _, set := range []struct {
			pairs [][2]string
			min   float64
		}{{text, 4.5}, {marks, 3}} {
			for _, pair := range set.pairs {
				fg, bg := p[pair[0]], p[pair[1]]
				if fg == "" || bg == "" {
					t.Errorf("%s: no --%s or --%s", name, pair[0], pair[1])
					continue
				}
				if c := contrast(fg, bg); c < set.min {
					t.Errorf("%s: --%s %s on --%s %s has contrast %.2f:1, want at least %.1f:1", name, pair[0], fg, pair[1], bg, c, set.min)
				}
			}
		}
	}
}
