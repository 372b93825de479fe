package capture

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	r := NewRedactor([]*regexp.Regexp{regexp.MustCompile(`ACME-[0-9]{6}`)})
	for _, tc := range []struct {
		name, in, want string
	}{
		{"openai_key", `{"content":"my key is sk-proj-AbCdEfGhIjKlMnOpQrStUv12"}`, `{"content":"my key is [REDACTED:api_key]"}`},
		{"anthropic_key", "x-api-key: sk-ant-api03-AAAABBBBCCCCDDDD_eeee", "x-api-key: [REDACTED:api_key]"},
		{"gateway_key", "sk-sy-0123456789abcdefXYZ", "[REDACTED:api_key]"},
		{"google_key", "key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "key=[REDACTED:api_key]"},
		{"aws_access_key_id", "AKIAIOSFODNN7EXAMPLE is mine", "[REDACTED:aws_access_key_id] is mine"},
		{"aws_secret", "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok", "secret [REDACTED:aws_secret] ok"},
		{"not_aws_secret_all_lower", "abcdefghijabcdefghijabcdefghijabcdefghij", "abcdefghijabcdefghijabcdefghijabcdefghij"},
		{"bearer", "Authorization: Bearer abc.DEF-123_x~", "Authorization: [REDACTED:bearer]"},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
			"token [REDACTED:jwt] end"},
		{"card_plain", "card 4111111111111111 exp", "card [REDACTED:card] exp"},
		{"card_grouped", "card 4111 1111 1111 1111, thanks", "card [REDACTED:card], thanks"},
		{"card_dashes", "5500-0000-0000-0004", "[REDACTED:card]"},
		{"card_next_to_number", "order 12 4111 1111 1111 1111", "order 12 [REDACTED:card]"},
		{"not_card_fails_luhn", "order 4111111111111112", "order 4111111111111112"},
		{"short_number_kept", "call 12345 now", "call 12345 now"},
		{"email", "write to jane.doe+x@example.co.uk.", "write to [REDACTED:email]."},
		{"phone_e164", "ring +447911123456 today", "ring [REDACTED:phone] today"},
		{"phone_nanp", "(415) 555-2671 or 415.555.2671 or +1 415 555 2671",
			"[REDACTED:phone] or [REDACTED:phone] or [REDACTED:phone]"},
		{"operator_pattern", "account ACME-123456", "account [REDACTED]"},
		{"plain_text_kept", "The quick brown fox, 2024-05-01, costs $12.50.", "The quick brown fox, 2024-05-01, costs $12.50."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// instanceKinds is how many kinds of instance plant makes.
const instanceKinds = 11

// plant makes an instance of a built-in pattern of the given kind.
func plant(kind uint8, rng *rand.Rand) string {
	const (
		alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		upnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		b64url = alnum + "_-"
		b64    = alnum + "/+"
	)
	pick := func(set string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = set[rng.IntN(len(set))]
		}
		return string(b)
	}
	digits := func(n int) string { return pick("0123456789", n) }
	switch kind % instanceKinds {
	case 0:
		return "sk-" + []string{"", "proj-", "ant-api03-", "sy-"}[rng.IntN(4)] + pick(b64url, 16+rng.IntN(60))
	case 1:
		return "AIza" + pick(b64url, 35)
	case 2:
		return "gh" + pick("pousr", 1) + "_" + pick(alnum, 36+rng.IntN(10))
	case 3:
		return []string{"AKIA", "ASIA", "AROA", "AIDA"}[rng.IntN(4)] + pick(upnum, 16)
	case 4:
		s := []byte(pick(b64, 40))
		p := rng.Perm(40)
		s[p[0]], s[p[1]], s[p[2]] = 'Q', 'q', '7'
		return string(s)
	case 5:
		return []string{"Bearer ", "bearer ", "BEARER\t"}[rng.IntN(3)] + pick(alnum+"-._~+/", 1+rng.IntN(60))
	case 6:
		return "eyJ" + pick(b64url, 2+rng.IntN(40)) + "." + pick(b64url, 2+rng.IntN(60)) + "." + pick(b64url, 1+rng.IntN(43))
	case 7:
		n := 13 + rng.IntN(7)
		d := []byte(digits(n - 1))
		// The check digit that makes the number pass Luhn.
		for c := byte('0'); c <= '9'; c++ {
			if luhn(string(append(d, c))) {
				d = append(d, c)
				break
			}
		}
		sep := []string{"", " ", "-"}[rng.IntN(3)]
		var b strings.Builder
		for i, c := range d {
			if i > 0 && i%4 == 0 {
				b.WriteString(sep)
			}
			b.WriteByte(c)
		}
		return b.String()
	case 8:
		return pick(alnum, 1) + pick(alnum+"._%+-", rng.IntN(20)) + "@" + pick(alnum, 1+rng.IntN(10)) +
			[]string{"", ".mail"}[rng.IntN(2)] + "." + pick("abcdefghijklmnopqrstuvwxyz", 2+rng.IntN(5))
	case 9:
		switch rng.IntN(4) {
		case 0:
			return "+" + digits(8+rng.IntN(8))
		case 1:
			return "(" + digits(3) + ") " + digits(3) + "-" + digits(4)
		case 2:
			sep := []string{"-", "."}[rng.IntN(2)]
			return digits(3) + sep + digits(3) + sep + digits(4)
		default:
			return "+1 " + digits(3) + " " + digits(3) + " " + digits(4)
		}
	default:
		return "xox" + pick("abposr", 1) + "-" + pick(alnum+"-", 10+rng.IntN(40))
	}
}

// FuzzRedact plants an instance of a built-in pattern, separated by
// spaces, in arbitrary text and checks that it does not survive.
func FuzzRedact(f *testing.F) {
	f.Add("hello", "world", uint8(0), uint64(1))
	f.Add("", "", uint8(7), uint64(2))
	f.Add("order 12", "34 56", uint8(7), uint64(3))
	f.Add(`{"messages":[{"content":"`, `"}]}`, uint8(8), uint64(4))
	f.Add("Bearer", "=", uint8(4), uint64(5))
	f.Add("+1", "5", uint8(9), uint64(6))
	r := NewRedactor(nil)
	f.Fuzz(func(t *testing.T, before, after string, kind uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(kind)))
		inst := plant(kind, rng)
		out := r.Redact(before + " " + inst + " " + after)
		if strings.Contains(out, " "+inst+" ") {
			t.Fatalf("instance %q (kind %d) survived redaction: %q", inst, kind%instanceKinds, out)
		}
		if strings.Contains(out, inst) && !strings.Contains(before, inst) && !strings.Contains(after, inst) {
			t.Fatalf("instance %q (kind %d) survived redaction: %q", inst, kind%instanceKinds, out)
		}
	})
}

// TestRedact_EveryKind plants many instances of each kind in plain text.
func TestRedact_EveryKind(t *testing.T) {
	r := NewRedactor(nil)
	rng := rand.New(rand.NewPCG(7, 7))
	for kind := range uint8(instanceKinds) {
		for range 500 {
			inst := plant(kind, rng)
			if out := r.Redact("text " + inst + " more"); strings.Contains(out, inst) {
				t.Fatalf("kind %d: %q survived: %q", kind, inst, out)
			}
		}
	}
}
