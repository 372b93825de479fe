package billing

import (
	"strings"
	"unicode"
)

// Offering is a model configured on a channel, as reconciliation looks
// for it in a bill's words: its public name and the channel's name for
// it (a model id, a deployment).
type Offering struct {
	Model, Upstream string
}

// ResolveModel finds the offering a bill line's words name (a CUR usage
// type "USE1-Claude-input-tokens", an Azure meter "gpt-4o-mini-0718-Inp-glbl
// 1K Tokens", a SKU "Claude Sonnet 4.5 input tokens", a model id) and
// returns its public model. Words and names are compared as tokens (runs
// of letters, runs of digits, lower case): an offering scores the tokens
// of its upstream name (or public name, whichever scores better) found in
// the words, less those not found, and at least one word of letters must
// be found. The best score wins; a tie between two models, or no match,
// is not a model (ok false), and the line is compared by channel only.
func ResolveModel(words string, offerings []Offering) (model string, ok bool) {
	if words == "" || len(offerings) == 0 {
		return "", false
	}
	have := map[string]bool{}
	for _, t := range tokens(words) {
		have[t] = true
	}
	type score struct{ found, missed int }
	better := func(a, b score) bool { return a.found > b.found || a.found == b.found && a.missed < b.missed }
	var best score
	tied := false
	for _, o := range offerings {
		var s score
		for i, name := range []string{o.Upstream, o.Model} {
			var c score
			letters := false
			for _, t := range tokens(name) {
				if have[t] {
					c.found++
					letters = letters || unicode.IsLetter(rune(t[0]))
				} else {
					c.missed++
				}
			}
			if letters && (i == 0 || better(c, s)) {
				s = c
			}
		}
		switch {
		case s.found == 0:
		case model == "" || better(s, best):
			model, best, tied = o.Model, s, false
		case s == best && o.Model != model:
			tied = true
		}
	}
	if model == "" || tied {
		return "", false
	}
	return model, true
}

// tokens splits s into lower-case runs of letters and runs of digits.
func tokens(s string) []string {
	var out []string
	start, kind := -1, 0
	flush := func(i int) {
		if start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
		}
		start, kind = -1, 0
	}
	for i, r := range s {
		k := 0
		switch {
		case r < unicode.MaxASCII && unicode.IsLetter(r):
			k = 1
		case r < unicode.MaxASCII && unicode.IsDigit(r):
			k = 2
		}
		if k != kind {
			flush(i)
			if k != 0 {
				start, kind = i, k
			}
		}
	}
	flush(len(s))
	return out
}
