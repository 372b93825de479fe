package billing

import "strings"

// columns indexes a cost export's CSV header: each column's name, with a
// byte-order mark and surrounding space trimmed and then normalised by
// the export's own rule, to its position. A name that appears twice
// keeps its last position.
type columns map[string]int

func indexHeader(head []string, norm func(string) string) columns {
	col := make(columns, len(head))
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if norm != nil {
			h = norm(h)
		}
		col[h] = i
	}
	return col
}

// missing returns the names in need that the header lacks, in order.
func (c columns) missing(need ...string) []string {
	var out []string
	for _, n := range need {
		if _, ok := c[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// get returns rec's field in the named column, space trimmed; empty when
// the header lacks the column or the record is short of it.
func (c columns) get(rec []string, name string) string {
	if i, ok := c[name]; ok && i < len(rec) {
		return strings.TrimSpace(rec[i])
	}
	return ""
}
