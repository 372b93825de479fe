package billing

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// ParseCURParquet reads an AWS CUR 2.0 export in Parquet (the Data
// Exports default) and keeps the Amazon Bedrock usage lines, as ParseCUR
// does for CSV. It reads only the columns reconciliation needs; their
// physical types may be strings, numbers or timestamps, as the export's
// schema says.
func ParseCURParquet(r io.ReaderAt, size int64) (bill *Bill, err error) {
	// The Parquet reader trusts the file's offsets and lengths and can
	// panic on a corrupt one; a bad upload is the uploader's error.
	defer func() {
		if p := recover(); p != nil {
			bill, err = nil, fmt.Errorf("not a readable Parquet file: %v", p)
		}
	}()
	if size > MaxBillBytes {
		return nil, fmt.Errorf("the CUR file is %d bytes, more than the %d a bill may be", size, int64(MaxBillBytes))
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("not a Parquet file: %w", err)
	}
	want := []string{curStart, curProduct, curType, curCost, curCurrency, curRegion, curAccount, curResource, curUsage}
	cols := make([]curColumn, 0, len(want))
	var missing []string
	for i, name := range want {
		leaf, ok := f.Schema().Lookup(name)
		switch {
		case ok && leaf.MaxRepetitionLevel == 0 && leaf.Node.Leaf():
			cols = append(cols, curColumn{name: name, index: leaf.ColumnIndex, node: leaf.Node})
		case i < 6: // the first six are required, as for CSV
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("not a CUR 2.0 export: the schema lacks %s (as top-level columns)", strings.Join(missing, ", "))
	}
	bill = &Bill{Provider: "aws", Lines: []BillLine{}}
	fields := make(map[string]string, len(cols))
	get := func(name string) string { return fields[name] }
	buf := make([]parquet.Row, 256)
	line := 1
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				line++
				clear(fields)
				for _, c := range cols {
					v, err := c.text(row)
					if err != nil {
						rows.Close()
						return nil, fmt.Errorf("CUR row %d: %s: %w", line-1, c.name, err)
					}
					fields[c.name] = v
				}
				if err := bill.addCURLine(line, get); err != nil {
					rows.Close()
					return nil, err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading the CUR: %w", err)
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("reading the CUR: %w", err)
		}
	}
	return bill, nil
}

// curColumn is one top-level column of a CUR Parquet file.
type curColumn struct {
	name  string
	index int
	node  parquet.Node
}

// text returns the column's value in row as the CSV export would write
// it: timestamps as RFC 3339, numbers in decimal, null as "".
func (c curColumn) text(row parquet.Row) (string, error) {
	var v parquet.Value
	found := false
	for _, x := range row {
		if x.Column() == c.index {
			v, found = x, true
			break
		}
	}
	if !found || v.IsNull() {
		return "", nil
	}
	var logical format.LogicalTypeValue
	if lt := c.node.Type().LogicalType(); lt != nil {
		logical = lt.Value
	}
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if _, ok := logical.(*format.DecimalType); ok {
			return "", errors.New("decimal columns are not supported; export amounts as double")
		}
		return string(v.ByteArray()), nil
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'f', -1, 64), nil
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'f', -1, 32), nil
	case parquet.Int32:
		if _, ok := logical.(*format.DateType); ok {
			return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly), nil
		}
		return strconv.FormatInt(int64(v.Int32()), 10), nil
	case parquet.Int64:
		if ts, ok := logical.(*format.TimestampType); ok && ts.Unit.Value != nil {
			return time.Unix(0, v.Int64()*int64(ts.Unit.Value.Duration())).UTC().Format(time.RFC3339Nano), nil
		}
		return strconv.FormatInt(v.Int64(), 10), nil
	case parquet.Int96:
		// Legacy timestamps: nanoseconds of the day, then the Julian day.
		i := v.Int96()
		nanos := int64(i[1])<<32 | int64(i[0])
		days := int64(i[2]) - 2440588 // the Julian day of 1970-01-01
		return time.Unix(days*86400, nanos).UTC().Format(time.RFC3339Nano), nil
	default:
		return "", fmt.Errorf("unexpected Parquet type %s", v.Kind())
	}
}
