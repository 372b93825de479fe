package sqlstore

import (
	"strconv"

	"switchyard/internal/jsonwire"
	"switchyard/internal/store"
)

// The ledger's JSON columns (contracts, detail) are rendered by hand into
// one buffer per batch instead of a json.Marshal per row: the bytes are
// exactly those json.Marshal writes (the tests compare them), so readers
// and stored rows agree whichever wrote them.

// appendList appends the contracts column of l: what encodeList returns.
func appendList(dst []byte, l []string) []byte {
	if len(l) == 0 {
		return append(dst, "[]"...)
	}
	dst = append(dst, '[')
	for i, s := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonwire.AppendString(dst, s)
	}
	return append(dst, ']')
}

// hasDetail reports whether r has a detail column to store.
func hasDetail(r *store.UsageRecord) bool {
	return r.Strategy != "" || len(r.Candidates) > 0 || len(r.AttemptLog) > 0
}

// appendDetail appends the detail column of r (json.Marshal of its
// usageDetail); nothing when it has none.
func appendDetail(dst []byte, r *store.UsageRecord) []byte {
	if !hasDetail(r) {
		return dst
	}
	dst = append(dst, '{')
	sep := false
	field := func(name string) {
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	if r.Strategy != "" {
		field("strategy")
		dst = jsonwire.AppendString(dst, r.Strategy)
	}
	if len(r.Candidates) > 0 {
		field("candidates")
		dst = append(dst, '[')
		for i, c := range r.Candidates {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"channel":`...)
			dst = jsonwire.AppendString(dst, c.Channel)
			dst = append(dst, `,"upstream_model":`...)
			dst = jsonwire.AppendString(dst, c.UpstreamModel)
			if c.Skipped != "" {
				dst = append(dst, `,"skipped":`...)
				dst = jsonwire.AppendString(dst, c.Skipped)
			}
			if c.Detail != "" {
				dst = append(dst, `,"detail":`...)
				dst = jsonwire.AppendString(dst, c.Detail)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(r.AttemptLog) > 0 {
		field("attempts")
		dst = append(dst, '[')
		for i, a := range r.AttemptLog {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"channel":`...)
			dst = jsonwire.AppendString(dst, a.Channel)
			dst = append(dst, `,"upstream_model":`...)
			dst = jsonwire.AppendString(dst, a.UpstreamModel)
			dst = append(dst, `,"status":`...)
			dst = strconv.AppendInt(dst, int64(a.Status), 10)
			if a.ErrorKind != "" {
				dst = append(dst, `,"error_kind":`...)
				dst = jsonwire.AppendString(dst, a.ErrorKind)
			}
			dst = append(dst, `,"duration_ns":`...)
			dst = strconv.AppendInt(dst, int64(a.Duration), 10)
			if a.Fallback != "" {
				dst = append(dst, `,"fallback":`...)
				dst = jsonwire.AppendString(dst, a.Fallback)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendSQLiteText appends s as a JSON string that SQLite's JSON
// functions read back as exactly s: only the quote, the backslash and
// control characters are escaped; every other byte, valid UTF-8 or not, is
// copied as it is, as a bound TEXT parameter would store it.
func appendSQLiteText(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '"', '\\':
			dst = append(dst, '\\', b)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
