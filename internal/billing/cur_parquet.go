package billing

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"switchyard/internal/billing/parquetcols"
)

// ParseCURParquet reads an AWS CUR 2.0 export in Parquet (the Data
// Exports default) and keeps the Amazon Bedrock usage lines, as ParseCUR
// does for CSV: the same columns, read by their types, nested ones (such
// as product) stepped over.
func ParseCURParquet(r io.ReaderAt, size int64) (*Bill, error) {
	if size > MaxBillBytes {
		return nil, fmt.Errorf("the CUR file is %d bytes, more than the %d a bill may be", size, int64(MaxBillBytes))
	}
	bill := &Bill{Provider: "aws", Lines: []BillLine{}}
	err := parquetcols.Read(r, size, []string{curStart, curProduct, curType, curCost, curCurrency, curRegion},
		[]string{curAccount, curResource, curUsage}, func(row int, get func(string) string) error {
			return bill.addCURLine(row+1, get)
		})
	var missing *parquetcols.MissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("not a CUR 2.0 export: the schema lacks %s (as top-level columns)", strings.Join(missing.Columns, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CUR: %w", err)
	}
	return bill, nil
}
