//go:build !unix

package config

// openFileLimit is unknown outside Unix.
func openFileLimit() uint64 { return 0 }
