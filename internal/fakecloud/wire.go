package fakecloud

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// canonicalJSON re-encodes a JSON value compactly with sorted object keys
// and exact numbers; ok is false when raw is not JSON.
func canonicalJSON(raw []byte) (string, bool) {
	v, err := decodeValue(raw)
	if err != nil {
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// decodeValue decodes one JSON value keeping numbers as json.Number.
func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, badRequest("trailing data after JSON value")
	}
	return v, nil
}

// decodeSchema decodes a JSON Schema; absent or null gives nil.
func decodeSchema(raw json.RawMessage, field string) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, badRequest("%s: invalid JSON schema: %v", field, err)
	}
	switch v.(type) {
	case map[string]any, bool:
		return v, nil
	}
	return nil, badRequest("%s: a JSON schema must be an object", field)
}

// canonicalArgs canonicalizes tool arguments given as a JSON object.
func canonicalArgs(raw []byte, field string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	s, ok := canonicalJSON(raw)
	if !ok || !strings.HasPrefix(s, "{") {
		return "", badRequest("%s: tool input must be a JSON object", field)
	}
	return s, nil
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s, field string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if b2, err2 := base64.RawURLEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
		return nil, badRequest("%s: invalid base64 data", field)
	}
	return b, nil
}

// parseDataURL splits "data:MIME;base64,DATA".
func parseDataURL(u, field string) (mime string, data []byte, err error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", nil, badRequest("%s: not a data URL", field)
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, badRequest("%s: malformed data URL", field)
	}
	mime, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 {
		return "", nil, badRequest("%s: data URLs must be base64", field)
	}
	data, err = decodeBase64(payload, field)
	return mime, data, err
}

// isImageMIME reports whether a media type is an image.
func isImageMIME(m string) bool { return strings.HasPrefix(strings.ToLower(m), "image/") }

// textOf renders a decoded JSON value as tool result text: strings as
// they are, anything else as compact JSON.
func textOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
