// Package parquetcols owns reading Parquet files (through parquet-go):
// the named top-level columns of every row, as the text a CSV export of
// the same data would hold, so that a cost export's Parquet and CSV forms
// are read by one parser.
package parquetcols

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// MissingError names required columns a file's schema lacks (as
// top-level, non-repeated columns).
type MissingError struct{ Columns []string }

func (e *MissingError) Error() string { return fmt.Sprintf("the schema lacks %v", e.Columns) }

// Read calls fn with every row of the Parquet file r (size bytes) in
// order, numbered from 1, and a get that returns the row's value of a
// named column as text: timestamps in RFC 3339, dates as YYYY-MM-DD,
// numbers in decimal, strings as they are, null and absent columns as "".
// Every name in required must be a top-level column (else a
// *MissingError); optional ones may be absent. Other columns, nested ones
// included, are stepped over. Decimal columns are refused. A corrupt file
// is an error, never a panic; fn's error stops the read and is returned.
func Read(r io.ReaderAt, size int64, required, optional []string, fn func(row int, get func(column string) string) error) (err error) {
	// The reader trusts the file's offsets and lengths and can panic on
	// a corrupt one.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("not a readable Parquet file: %v", p)
		}
	}()
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("not a Parquet file: %w", err)
	}
	var cols []column
	var missing []string
	for i, name := range append(append([]string(nil), required...), optional...) {
		leaf, ok := f.Schema().Lookup(name)
		switch {
		case ok && leaf.MaxRepetitionLevel == 0 && leaf.Node.Leaf():
			cols = append(cols, column{name: name, index: leaf.ColumnIndex, node: leaf.Node})
		case i < len(required):
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return &MissingError{missing}
	}
	fields := make(map[string]string, len(cols))
	get := func(name string) string { return fields[name] }
	buf := make([]parquet.Row, 256)
	n := 0
	for _, rg := range f.RowGroups() {
		if err := readGroup(rg, buf, cols, fields, func() error { n++; return fn(n, get) }); err != nil {
			return err
		}
	}
	return nil
}

// readGroup reads one row group's rows into fields and calls each.
func readGroup(rg parquet.RowGroup, buf []parquet.Row, cols []column, fields map[string]string, each func() error) error {
	rows := rg.Rows()
	defer rows.Close()
	for {
		n, err := rows.ReadRows(buf)
		for _, row := range buf[:n] {
			clear(fields)
			for _, c := range cols {
				v, err := c.text(row)
				if err != nil {
					return fmt.Errorf("column %s: %w", c.name, err)
				}
				fields[c.name] = v
			}
			if err := each(); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading Parquet rows: %w", err)
		}
	}
}

// column is one top-level column of a file.
type column struct {
	name  string
	index int
	node  parquet.Node
}

// text returns the column's value in row as text.
func (c column) text(row parquet.Row) (string, error) {
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
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean()), nil
	case parquet.Int32:
		if _, ok := logical.(*format.DateType); ok {
			return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly), nil
		}
		if _, ok := logical.(*format.DecimalType); ok {
			return "", errors.New("decimal columns are not supported; export amounts as double")
		}
		return strconv.FormatInt(int64(v.Int32()), 10), nil
	case parquet.Int64:
		if ts, ok := logical.(*format.TimestampType); ok && ts.Unit.Value != nil {
			return time.Unix(0, v.Int64()*int64(ts.Unit.Value.Duration())).UTC().Format(time.RFC3339Nano), nil
		}
		if _, ok := logical.(*format.DecimalType); ok {
			return "", errors.New("decimal columns are not supported; export amounts as double")
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
