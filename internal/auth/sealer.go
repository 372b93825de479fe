package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MasterKeyEnv names the environment variable that holds the master key
// sealing stored secrets.
const MasterKeyEnv = "SWITCHYARD_MASTER_KEY"

// MasterKeySize is the length of a master key: AES-256.
const MasterKeySize = 32

// sealVersion is the first byte of every sealed value, so that a later
// format (or key rotation) can be told apart.
const sealVersion = 1

// ErrSealedInvalid is returned by Open when a sealed value is malformed,
// was sealed under another master key, or has been tampered with.
var ErrSealedInvalid = errors.New("sealed value invalid")

// Sealer encrypts secrets at rest (the SigV4 secrets of client keys) with
// AES-256-GCM. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer using a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext. The result is a version byte, a random 96-bit
// nonce and the ciphertext with its tag; sealing the same plaintext twice
// gives different results.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, out[:1]), nil
}

// Open decrypts a value made by Seal under the same master key. Any other
// input yields ErrSealedInvalid.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("opening sealed value: too short: %w", ErrSealedInvalid)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("opening sealed value: unknown version %d: %w", sealed[0], ErrSealedInvalid)
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealed[:1])
	if err != nil {
		return nil, fmt.Errorf("opening sealed value: wrong master key or tampered: %w", ErrSealedInvalid)
	}
	return pt, nil
}

// ParseMasterKey decodes a master key given as 64 hex digits or as base64
// (standard or URL alphabet, padded or not) of 32 bytes. Surrounding white
// space is ignored. Errors never include the key material.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("parsing master key: empty")
	}
	if len(s) == hex.EncodedLen(MasterKeySize) {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == MasterKeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("parsing master key: want %d bytes as 64 hex digits or base64", MasterKeySize)
}
