package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
)

// KeyPrefix starts every client key secret.
const KeyPrefix = "sk-sy-"

// keyRandomChars is the number of base62 characters after KeyPrefix:
// 62^43 > 2^256, so a key carries 256 bits of entropy.
const keyRandomChars = 43

// displayChars is how many random characters Key.Prefix shows after
// KeyPrefix: enough to tell keys apart in a list, far too few to matter to
// an attacker.
const displayChars = 4

// AWSAccessKeyIDPrefix starts every access key ID NewAWSKeyPair makes. AWS
// uses "AKIA"/"ASIA"; the gateway's own prefix keeps its IDs apart.
const AWSAccessKeyIDPrefix = "ASY"

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// NewKey makes a client key: the secret to show the user once, its hash to
// store, and a short prefix to display. The secret is KeyPrefix followed by
// 43 random base62 characters (256 bits).
func NewKey() (secret string, hash []byte, prefix string, err error) {
	r, err := randomString(base62Alphabet, keyRandomChars)
	if err != nil {
		return "", nil, "", fmt.Errorf("generating key: %w", err)
	}
	secret = KeyPrefix + r
	return secret, HashKey(secret), secret[:len(KeyPrefix)+displayChars], nil
}

// HashKey returns the SHA-256 of a key secret, the value stores index keys
// by.
//
// A fast, unsalted hash is the right tool here, unlike for passwords: the
// secrets are 256-bit random strings, so no amount of hashing speed makes
// guessing one feasible, and a slow or salted KDF would only add
// milliseconds to every request while preventing indexed lookup by hash.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewAWSKeyPair makes SigV4 credentials shaped like AWS's: a 20-character
// access key ID (AWSAccessKeyIDPrefix and 17 upper-case base32 characters,
// 85 bits) and a 40-character secret (base64 alphabet, 240 bits). Seal the
// secret with a Sealer before storing it.
func NewAWSKeyPair() (accessKeyID, secret string, err error) {
	id, err := randomString(base32Alphabet, 20-len(AWSAccessKeyIDPrefix))
	if err != nil {
		return "", "", fmt.Errorf("generating access key ID: %w", err)
	}
	secret, err = randomString(base64Alphabet, 40)
	if err != nil {
		return "", "", fmt.Errorf("generating secret access key: %w", err)
	}
	return AWSAccessKeyIDPrefix + id, secret, nil
}

// randomString returns n characters drawn uniformly from alphabet (at most
// 256 characters) using crypto/rand. Bytes at or above the largest multiple
// of len(alphabet) are rejected, so no character is more likely than
// another.
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, alphabet[int(b)%len(alphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// RedactKeys returns s with every client key secret in it cut down to its
// display prefix ("sk-sy-AbCd…"), for text that is logged or shown: a
// request path, an error. A secret runs to the first character that is
// not URL-safe or is '/'. Text without KeyPrefix is returned as is.
func RedactKeys(s string) string {
	i := strings.Index(s, KeyPrefix)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		start := i + len(KeyPrefix)
		end := start
		for end < len(s) && isKeyChar(s[end]) {
			end++
		}
		keep := min(end, start+displayChars)
		b.WriteString(s[:keep])
		if end > keep {
			b.WriteString("…")
		}
		s = s[end:]
		i = strings.Index(s, KeyPrefix)
	}
	b.WriteString(s)
	return b.String()
}

// isKeyChar reports whether c can continue a secret: base62 for the keys
// NewKey makes, and the other URL-safe characters for caller-chosen ones
// (IssueFixedKey).
func isKeyChar(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || strings.IndexByte("-_.~+=%", c) >= 0
}
