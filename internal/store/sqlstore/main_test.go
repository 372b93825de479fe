package sqlstore

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs more parallel tests at once than the default of one per
// CPU: the conformance cases wait on SQLite's and Postgres's writes far
// more than they compute. An explicit -parallel wins.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
