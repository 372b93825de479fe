package app

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// burstReadSize is the buffer a read of an upstream connection borrows
// for what a fast stream has queued in the socket past the transport's
// buffer (4 KiB, about a dozen stream events): many events' worth come
// in with one more system call instead of one per 4 KiB.
const burstReadSize = 32 << 10

var burstPool = sync.Pool{New: func() any { b := make([]byte, burstReadSize); return &b }}

// burstConn is an upstream connection that, when a read fills the
// caller's buffer (so the socket may hold more of a burst), takes what
// else the socket holds at once, without waiting, into a buffer borrowed
// from a pool, and hands it over on the next reads with no system call.
// The buffer is borrowed only for bytes already arrived and goes back as
// soon as they are read: a read that waits on the upstream never holds
// it, so an idle or slow stream costs nothing more.
//
// Reads are not safe for concurrent use (the transport reads a
// connection from one goroutine); the other methods are the connection's.
type burstConn struct {
	net.Conn
	// raw reads the socket without waiting; nil for a connection that is
	// not a socket (then reads pass through).
	raw  syscall.RawConn
	buf  *[]byte // borrowed; nil when nothing is kept
	r, w int     // (*buf)[r:w] are kept bytes
}

func newBurstConn(c net.Conn) *burstConn {
	bc := &burstConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		bc.raw, _ = sc.SyscallConn()
	}
	return bc
}

func (c *burstConn) Read(p []byte) (int, error) {
	if c.buf != nil {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		if c.r == c.w {
			burstPool.Put(c.buf)
			c.buf, c.r, c.w = nil, 0, 0
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if err != nil || n < len(p) || len(p) >= burstReadSize || c.raw == nil {
		return n, err
	}
	// p is full: take the rest of a burst now, or nothing if none waits.
	b := burstPool.Get().(*[]byte)
	if m := readNow(c.raw, *b); m > 0 {
		c.buf, c.r, c.w = b, 0, m
	} else {
		// Nothing waiting, or the end or an error, which the next read
		// meets as it would have.
		burstPool.Put(b)
	}
	return n, nil
}

// burstDialer wraps dial's connections in burstConn.
func burstDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newBurstConn(c), nil
	}
}
