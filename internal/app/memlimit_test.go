package app

import (
	"io/fs"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if s, ok := m[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	v2 := map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}
	for _, tc := range []struct {
		name       string
		mib        int
		gomemlimit string
		files      map[string]string
		want       int64
	}{
		{"configured", 64, "", v2, 64 << 20},
		{"off", -1, "", v2, 0},
		{"gomemlimit_wins", 64, "1GiB", v2, 0},
		{"cgroup_v2", 0, "", v2, 1073741824 / 10 * 9},
		{"cgroup_v2_unlimited", 0, "", map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"cgroup_v1", 0, "", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "524288000\n"}, 524288000 / 10 * 9},
		{"cgroup_v1_unlimited", 0, "", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"no_cgroup", 0, "", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.gomemlimit
				}
				return ""
			}
			if got := memoryLimit(tc.mib, getenv, files(tc.files)); got != tc.want {
				t.Errorf("memoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}
