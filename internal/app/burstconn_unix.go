//go:build unix

package app

import "syscall"

// readNow reads what the socket holds into b without waiting for more:
// the bytes read, or 0 when none were waiting (or at the end, or on an
// error, which a regular read then meets).
func readNow(raw syscall.RawConn, b []byte) int {
	n := 0
	_ = raw.Read(func(fd uintptr) bool {
		m, err := syscall.Read(int(fd), b)
		if err == nil && m > 0 {
			n = m
		}
		return true // never wait for the socket to be readable
	})
	return n
}
