package auth

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		secret, hash, prefix, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, KeyPrefix) || len(secret) != len(KeyPrefix)+keyRandomChars {
			t.Fatalf("secret %q: want %s followed by %d characters", secret, KeyPrefix, keyRandomChars)
		}
		if strings.Trim(secret[len(KeyPrefix):], base62Alphabet) != "" {
			t.Fatalf("secret %q has characters outside base62", secret)
		}
		if want := sha256.Sum256([]byte(secret)); !bytes.Equal(hash, want[:]) {
			t.Fatalf("hash of %q is not its SHA-256", secret)
		}
		if !bytes.Equal(hash, HashKey(secret)) {
			t.Fatalf("NewKey hash differs from HashKey")
		}
		if prefix != secret[:10] {
			t.Fatalf("prefix = %q, want %q", prefix, secret[:10])
		}
		if seen[secret] {
			t.Fatalf("secret %q generated twice", secret)
		}
		seen[secret] = true
	}
}

func TestNewAWSKeyPair(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, secret, err := NewAWSKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 20 || !strings.HasPrefix(id, AWSAccessKeyIDPrefix) || strings.Trim(id, base32Alphabet) != "" {
			t.Fatalf("access key ID %q: want 20 upper-case base32 characters starting %s", id, AWSAccessKeyIDPrefix)
		}
		if len(secret) != 40 || strings.Trim(secret, base64Alphabet) != "" {
			t.Fatalf("secret %q: want 40 base64 characters", secret)
		}
		if seen[id] {
			t.Fatalf("access key ID %q generated twice", id)
		}
		seen[id] = true
	}
}

// TestRandomString_Uniform checks that every character is about equally
// likely: plain modulo reduction of random bytes would make the first
// 256%62 = 8 base62 characters 25% more likely than the rest.
func TestRandomString_Uniform(t *testing.T) {
	const n = 100000
	s, err := randomString(base62Alphabet, n)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	if len(counts) != len(base62Alphabet) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(base62Alphabet))
	}
	mean := float64(n) / float64(len(base62Alphabet))
	// The standard deviation of one count is about sqrt(mean) = 40, so 12%
	// of the mean (193) is almost 5 deviations: a fair generator never
	// fails, a biased one always does.
	for r, c := range counts {
		if dev := (float64(c) - mean) / mean; dev > 0.12 || dev < -0.12 {
			t.Errorf("character %q appears %d times, mean %.0f", r, c, mean)
		}
	}
}

func TestRedactKeys(t *testing.T) {
	secret, _, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"/admin/v1/keys/key_123/revoke", "/admin/v1/keys/key_123/revoke"},
		{"/admin/v1/keys/" + secret + "/revoke", "/admin/v1/keys/" + secret[:10] + "…/revoke"},
		{secret + " and " + secret, secret[:10] + "… and " + secret[:10] + "…"},
		{"sk-sy-ab", "sk-sy-ab"},
		{`"path":"/x/sk-sy-demo-fixed-key?x=1"`, `"path":"/x/sk-sy-demo…?x=1"`},
		{"sk-sy-", "sk-sy-"},
	} {
		if got := RedactKeys(tc.in); got != tc.want {
			t.Errorf("RedactKeys(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
