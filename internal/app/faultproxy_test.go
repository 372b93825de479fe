package app

import (
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
