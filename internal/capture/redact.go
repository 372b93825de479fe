package capture

import (
	"regexp"
	"strings"
	"sync"
)

// Built-in redaction. Each kind of secret or personal datum is found by a
// pattern and replaced by "[REDACTED:kind]"; the operator's own patterns
// are replaced by "[REDACTED]". Patterns run in the order of builtins,
// then the operator's, each over the output of the one before, so that a
// replacement is never searched again by the pattern that made it.
//
// What counts as an instance (what FuzzRedact plants, separated from the
// text around it by whitespace):
//   - API keys: OpenAI-style "sk-" keys (OpenAI, Anthropic "sk-ant-",
//     Switchyard "sk-sy-", project keys), Google "AIza" keys, GitHub
//     "ghp_"-style tokens, Slack "xox?-" tokens;
//   - AWS access key IDs ("AKIA", "ASIA", ... and 16 more) and secret
//     access keys (40 characters of base64 with an upper-case letter, a
//     lower-case letter and a digit, standing alone);
//   - bearer tokens ("Bearer <token>", any case) and JWTs (three
//     base64url parts, the first starting "eyJ");
//   - card numbers: 13 to 19 digits, in groups separated by single spaces
//     or dashes, that pass the Luhn check;
//   - email addresses;
//   - phone numbers: E.164 ("+" and 8 to 15 digits) and North American
//     forms ("(555) 123-4567", "555-123-4567", "555.123.4567", "+1 555 123 4567").
type builtin struct {
	kind string
	re   *regexp.Regexp
	// keep, when set, decides whether a match is an instance; matches it
	// rejects stay as they are.
	keep func(match string) bool
	// cards marks the card pattern, whose matches are digit runs searched
	// for Luhn-valid groups.
	cards bool
}

// builtins are compiled on first use: a gateway that captures no
// payloads does not hold them.
var builtins = sync.OnceValue(func() []builtin {
	return []builtin{
		{kind: "jwt", re: regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+`)},
		{kind: "bearer", re: regexp.MustCompile(`(?i)\bbearer[ \t]+[A-Za-z0-9\-._~+/]+=*`)},
		{kind: "api_key", re: regexp.MustCompile(`sk-[A-Za-z0-9_\-]{16,}`)},
		{kind: "api_key", re: regexp.MustCompile(`AIza[0-9A-Za-z_\-]{35}`)},
		{kind: "api_key", re: regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{36,}`)},
		{kind: "api_key", re: regexp.MustCompile(`xox[abposr]-[A-Za-z0-9-]{10,}`)},
		{kind: "aws_access_key_id", re: regexp.MustCompile(`(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}`)},
		{kind: "aws_secret", re: regexp.MustCompile(`[A-Za-z0-9/+]{40,}`), keep: awsSecret},
		{kind: "email", re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)},
		{kind: "card", re: cardRun(), cards: true},
		{kind: "phone", re: regexp.MustCompile(`\+[0-9]{8,15}\b|(?:\+1[ .-]?)?(?:\([0-9]{3}\)[ ]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}\b`)},
	}
})

// cardRun finds runs of digit groups separated by single spaces or
// dashes, in which redactCards looks for card numbers.
var cardRun = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[0-9]+(?:[ -][0-9]+)*`) })

// awsSecret reports whether a run of base64 characters is a secret access
// key: exactly 40 of them, mixing upper case, lower case and digits.
func awsSecret(s string) bool {
	if len(s) != 40 {
		return false
	}
	var upper, lower, digit bool
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	return upper && lower && digit
}

// Redactor replaces secrets and personal data in text. It is safe for
// concurrent use.
type Redactor struct {
	extra []*regexp.Regexp
}

// NewRedactor returns a redactor with the built-in patterns and the
// operator's own.
func NewRedactor(extra []*regexp.Regexp) *Redactor {
	return &Redactor{extra: extra}
}

// Redact returns s with every instance of a built-in pattern, and every
// match of the operator's patterns, replaced.
func (r *Redactor) Redact(s string) string {
	bs := builtins()
	for i := range bs {
		b := &bs[i]
		switch {
		case b.cards:
			s = redactCards(s)
		case b.keep != nil:
			s = b.re.ReplaceAllStringFunc(s, func(m string) string {
				if b.keep(m) {
					return "[REDACTED:" + b.kind + "]"
				}
				return m
			})
		default:
			s = b.re.ReplaceAllLiteralString(s, "[REDACTED:"+b.kind+"]")
		}
	}
	for _, re := range r.extra {
		s = re.ReplaceAllLiteralString(s, "[REDACTED]")
	}
	return s
}

// redactCards replaces, in every run of digit groups, each span of whole
// groups holding 13 to 19 digits that passes the Luhn check. Searching
// spans of groups rather than whole runs finds a card number written next
// to other numbers ("order 12 4111 1111 1111 1111").
func redactCards(s string) string {
	return cardRun().ReplaceAllStringFunc(s, func(run string) string {
		digits := 0
		for i := 0; i < len(run); i++ {
			if run[i] >= '0' && run[i] <= '9' {
				digits++
			}
		}
		if digits < 13 {
			return run
		}
		// groups[i] is the i-th group's [start, end) in run.
		var groups [][2]int
		start := 0
		for i := 0; i <= len(run); i++ {
			if i == len(run) || run[i] == ' ' || run[i] == '-' {
				groups = append(groups, [2]int{start, i})
				start = i + 1
			}
		}
		hit := make([]bool, len(groups))
		found := false
		for a := range groups {
			n := 0
			for b := a; b < len(groups); b++ {
				n += groups[b][1] - groups[b][0]
				if n > 19 {
					break
				}
				if n >= 13 && luhn(run[groups[a][0]:groups[b][1]]) {
					for k := a; k <= b; k++ {
						hit[k] = true
					}
					found = true
				}
			}
		}
		if !found {
			return run
		}
		var out strings.Builder
		for i, g := range groups {
			if i > 0 && hit[i] && hit[i-1] {
				continue // one marker for the whole number
			}
			if i > 0 {
				out.WriteByte(run[groups[i-1][1]])
			}
			if hit[i] {
				out.WriteString("[REDACTED:card]")
			} else {
				out.WriteString(run[g[0]:g[1]])
			}
		}
		return out.String()
	})
}

// luhn reports whether the digits of s (separators skipped) pass the Luhn
// check.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
