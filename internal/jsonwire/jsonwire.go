// Package jsonwire reads and writes the few hot JSON shapes of the wire
// formats (a stream's text deltas, a plain answer, a ledger row's detail)
// without encoding/json's reflection, with exactly the results
// encoding/json gives: a reader that meets anything it does not handle
// reports false, and its caller decodes the bytes with encoding/json
// instead. It imports nothing of the project, so that the channel
// adapters and the store can share it.
package jsonwire

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s as a JSON string exactly as json.Marshal
// writes it: HTML characters escaped, invalid UTF-8 replaced by U+FFFD,
// U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// EachMember calls f with each member of the JSON object raw, in
// order, until f returns false; it reports whether raw is one object,
// alone but for white space, that f accepted whole. name comes without
// its quotes; name and value alias raw. raw need not have been checked:
// a value is only delimited here, and f must check the values it uses
// (StringValue and IntValue do). EachMember refuses, for the
// caller to fall back on encoding/json, an object whose member names
// repeat, hold escapes or an upper-case (or non-ASCII) letter, since
// encoding/json matches names case-insensitively and merges a repeated
// member into the value decoded before, and this walk does neither; and
// one of more than 64 members.
func EachMember(raw []byte, f func(name, value []byte) bool) bool {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	var seen [64][]byte
	n := 0
	i = SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return SkipSpace(raw, i+1) == len(raw)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		end, ok := SkipString(raw, i)
		if !ok {
			return false
		}
		name := raw[i+1 : end-1]
		for _, c := range name {
			if c == '\\' || c >= 'A' && c <= 'Z' || c >= 0x80 {
				return false
			}
		}
		if n == len(seen) {
			return false
		}
		for _, o := range seen[:n] {
			if string(o) == string(name) {
				return false
			}
		}
		seen[n] = name
		n++
		i = SkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := SkipSpace(raw, i+1)
		if end, ok = SkipValue(raw, start); !ok {
			return false
		}
		if !f(name, raw[start:end]) {
			return false
		}
		var more bool
		if i, more = next(raw, end, '}'); !more {
			return i == len(raw)
		}
	}
}

// EachElement calls f with each element of the JSON array raw, in
// order, until f returns false; it reports whether raw is one array,
// alone but for white space, that f accepted whole. As with
// EachMember, f must check the elements it uses.
func EachElement(raw []byte, f func(elem []byte) bool) bool {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i = SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return SkipSpace(raw, i+1) == len(raw)
	}
	for {
		end, ok := SkipValue(raw, i)
		if !ok || !f(raw[i:end]) {
			return false
		}
		var more bool
		if i, more = next(raw, end, ']'); !more {
			return i == len(raw)
		}
	}
}

// next reads what follows a member or element that ends at raw[end], in
// an object or array that close ends: after a ',', more is true and i is
// where the next one starts; after close, i is where white space after
// it ends (len(raw) when nothing else follows); after anything else, i
// is -1.
func next(raw []byte, end int, close byte) (i int, more bool) {
	i = SkipSpace(raw, end)
	switch {
	case i < len(raw) && raw[i] == ',':
		return SkipSpace(raw, i+1), true
	case i < len(raw) && raw[i] == close:
		return SkipSpace(raw, i+1), false
	}
	return -1, false
}

// StringValue decodes raw, one JSON string, as json.Unmarshal would
// into a string; ok is false for anything else (null included). A string
// without escapes costs one copy; one with escapes, or that is not valid
// UTF-8, is left to encoding/json.
func StringValue(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	plain := utf8.Valid(in)
	for _, c := range in {
		if c < 0x20 || c == '"' {
			return "", false // not valid JSON
		}
		if c == '\\' {
			plain = false
		}
	}
	if plain {
		return string(in), true
	}
	return unmarshalString(raw)
}

// unmarshalString is StringValue's slow path, apart so that the
// string it decodes into goes to the heap only when it is taken.
func unmarshalString(raw []byte) (string, bool) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// IntValue decodes raw, one JSON integer, as json.Unmarshal would
// into an int64; ok is false for anything else (a fraction, an exponent,
// null, a number of more than 18 digits, which encoding/json is left to
// judge).
func IntValue(raw []byte) (n int64, ok bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// SkipSpace returns the index of the first byte at or after b[i] that is
// not JSON white space (len(b) when none is).
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index just past the string that starts at
// b[i].
func SkipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// SkipValue returns the index just past the value that starts at
// b[i]. Only strings and nesting are followed: a caller that uses a
// value checks it.
func SkipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := SkipString(b, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	start := i
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) {
		i++
	}
	return i, i > start
}
