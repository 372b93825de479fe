package app

import (
	"strconv"
	"strings"
)

// cgroupMemoryFiles hold the memory limit of the cgroup the process runs
// in: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimit is the soft memory limit for the Go runtime, in bytes, or 0
// for none (config process.memory_limit_mib): none when GOMEMLIMIT is set,
// since the runtime has applied it already, or when mib is negative; mib
// MiB when positive; and when mib is 0, nine tenths of the memory limit of
// the process's cgroup (a container's), so that the collector works
// harder before the kernel kills the process, not after. Without a cgroup
// limit there is none.
func memoryLimit(mib int, getenv func(string) string, readFile func(string) ([]byte, error)) int64 {
	switch {
	case mib < 0 || getenv("GOMEMLIMIT") != "":
		return 0
	case mib > 0:
		return int64(mib) << 20
	}
	for _, f := range cgroupMemoryFiles {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a value near the largest int64 (v1): no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return n / 10 * 9
	}
	return 0
}
