package app

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// faultProxy forwards TCP connections to a target, and fails the link the
// two ways a network does:
//
//   - cut (refuse): every open connection is closed and new ones are
//     accepted and closed at once, as a service behind a failed link or a
//     stopped process looks; clients learn it at once.
//   - blackhole (swallow): connections stay open and new ones are accepted
//     and held, but nothing is forwarded either way, as a service behind a
//     network that drops packets looks; clients learn it only from their
//     own deadlines. Healing closes the connections that lost traffic
//     (their byte streams are broken, as a client that timed out would
//     have found) and forwards again on the others and on new ones.
//
// The real server is never touched, so other tests can share it.
type faultProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	cut       bool
	blackhole bool
	conns     map[net.Conn]struct{}
	broken    map[net.Conn]struct{} // lost traffic to a blackhole
	wg        sync.WaitGroup
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, broken: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

// track registers c unless the proxy is cut.
func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// swallowing reports whether traffic is blackholed now.
func (p *faultProxy) swallowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blackhole
}

// lost marks conns as having lost traffic, to be closed on healing.
func (p *faultProxy) lost(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.broken[c] = struct{}{}
	}
}

func (p *faultProxy) pipe(c net.Conn) {
	defer c.Close()
	if p.swallowing() {
		// Accepted during a blackhole: held open with no upstream,
		// reading and dropping, until healing or a cut closes it.
		p.lost(c)
		io.Copy(io.Discard, c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { p.forward(up, c, c, up); done <- struct{}{} }()
	go func() { p.forward(c, up, c, up); done <- struct{}{} }()
	<-done
}

// forward copies src to dst, dropping what arrives while the link is
// blackholed (and marking the pair's connections as broken).
func (p *faultProxy) forward(dst, src net.Conn, pair ...net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.swallowing() {
				p.lost(pair...)
			} else if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// setCut cuts (closing every open connection) or restores the link.
func (p *faultProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
		clear(p.broken)
	}
}

// setBlackhole starts swallowing traffic, or heals the link: the
// connections that lost traffic meanwhile are closed.
func (p *faultProxy) setBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = on
	if !on {
		for c := range p.broken {
			c.Close()
			delete(p.conns, c)
		}
		clear(p.broken)
	}
}

// TestFaultProxy_Blackhole: blackholed, the proxy keeps an open connection
// and accepts a new one, but forwards nothing either way; healed, it closes
// the connections that lost traffic and forwards on new ones.
func TestFaultProxy_Blackhole(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { // after the proxy's own cleanup has closed its connections
		echo.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); io.Copy(c, c) })
		}
	})
	p := startFaultProxy(t, echo.Addr().String())
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// roundTrip writes b and reads what comes back within wait.
	roundTrip := func(c net.Conn, b string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(b)); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(b))
		n, err := io.ReadFull(c, buf)
		return string(buf[:n]), err
	}
	old := dial()
	if got, err := roundTrip(old, "a", 5*time.Second); got != "a" {
		t.Fatalf("before: %q, %v", got, err)
	}

	p.setBlackhole(true)
	held := dial() // accepted, not refused
	for name, c := range map[string]net.Conn{"open connection": old, "new connection": held} {
		var nerr net.Error
		if got, err := roundTrip(c, "b", 200*time.Millisecond); got != "" || !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Errorf("%s while blackholed: %q, %v; want nothing and a read timeout", name, got, err)
		}
	}

	p.setBlackhole(false)
	for name, c := range map[string]net.Conn{"open connection": old, "new connection": held} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("%s that lost traffic, after healing: %v, want it closed", name, err)
		}
	}
	if got, err := roundTrip(dial(), "c", 5*time.Second); got != "c" {
		t.Errorf("new connection after healing: %q, %v", got, err)
	}
}
