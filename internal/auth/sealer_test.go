package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MasterKeySize) }

func TestSealer_RoundTrip(t *testing.T) {
	s, err := NewSealer(testKey(7))
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range [][]byte{nil, []byte("x"), []byte(strings.Repeat("secret", 100))} {
		sealed, err := s.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		// Short plaintexts can appear in random ciphertext by chance.
		if len(pt) >= 8 && bytes.Contains(sealed, pt) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, want %q", got, pt)
		}
	}
	a, _ := s.Seal([]byte("same"))
	b, _ := s.Seal([]byte("same"))
	if bytes.Equal(a, b) {
		t.Error("sealing the same plaintext twice gave the same result")
	}
}

func TestSealer_OpenRejects(t *testing.T) {
	s, _ := NewSealer(testKey(1))
	other, _ := NewSealer(testKey(2))
	sealed, err := s.Seal([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":         nil,
		"too_short":     sealed[:20],
		"truncated_tag": sealed[:len(sealed)-1],
		"wrong_version": append([]byte{9}, sealed[1:]...),
		"extra_byte":    append(bytes.Clone(sealed), 0),
	}
	for i := range sealed {
		flipped := bytes.Clone(sealed)
		flipped[i] ^= 0x80
		cases[fmt.Sprintf("flip_byte_%d", i)] = flipped
	}
	for name, in := range cases {
		if _, err := s.Open(in); !errors.Is(err, ErrSealedInvalid) {
			t.Errorf("%s: Open error = %v, want ErrSealedInvalid", name, err)
		}
	}
	if _, err := other.Open(sealed); !errors.Is(err, ErrSealedInvalid) {
		t.Errorf("Open under another master key: error = %v, want ErrSealedInvalid", err)
	}
}

func TestNewSealer_KeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	key := make([]byte, MasterKeySize)
	for i := range key {
		key[i] = byte(i*7 + 250) // includes bytes that differ between base64 alphabets
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex_lower", hex.EncodeToString(key), true},
		{"hex_upper", strings.ToUpper(hex.EncodeToString(key)), true},
		{"base64_std", base64.StdEncoding.EncodeToString(key), true},
		{"base64_raw_std", base64.RawStdEncoding.EncodeToString(key), true},
		{"base64_url", base64.URLEncoding.EncodeToString(key), true},
		{"base64_raw_url", base64.RawURLEncoding.EncodeToString(key), true},
		{"surrounding_space", "  " + base64.StdEncoding.EncodeToString(key) + "\n", true},
		{"empty", "", false},
		{"short_hex", hex.EncodeToString(key[:16]), false},
		{"long_base64", base64.StdEncoding.EncodeToString(append(key, 1)), false},
		{"not_encoded", "correct horse battery staple", false},
		{"hex_with_junk", hex.EncodeToString(key)[:62] + "zz", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMasterKey(tc.in)
			if !tc.ok {
				if err == nil {
					t.Fatalf("ParseMasterKey(%q) succeeded", tc.in)
				}
				if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
					t.Errorf("error repeats the key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMasterKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("key = %x, want %x", got, key)
			}
		})
	}
}

func FuzzSealerOpen(f *testing.F) {
	s, _ := NewSealer(testKey(3))
	sealed, _ := s.Seal([]byte("seed"))
	f.Add(sealed)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := s.Open(in)
		if err != nil {
			if !errors.Is(err, ErrSealedInvalid) {
				t.Fatalf("Open error %v does not wrap ErrSealedInvalid", err)
			}
			return
		}
		// Only genuine sealed values open; resealing must round-trip.
		again, err := s.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Open(again); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("reseal round trip: %q, %v", got, err)
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add(hex.EncodeToString(testKey(1)))
	f.Add(base64.StdEncoding.EncodeToString(testKey(2)))
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseMasterKey(in)
		if err != nil {
			return
		}
		if len(k) != MasterKeySize {
			t.Fatalf("ParseMasterKey(%q) returned %d bytes", in, len(k))
		}
		if _, err := NewSealer(k); err != nil {
			t.Fatalf("parsed key refused by NewSealer: %v", err)
		}
	})
}
