package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
)

// events is n stream events of about 300 bytes each.
func events(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "data: {\"id\":\"chatcmpl-%d\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%0250d\"}}]}\n\n", i, i)
	}
	return b.Bytes()
}

// socketPair is a loopback TCP connection: the client's end counted (see
// countingConn), the server's end to write to.
func socketPair(t *testing.T) (client *countingConn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	client = &countingConn{Conn: c, reads: new(atomic.Int64)}
	t.Cleanup(func() { c.Close(); server.Close() })
	return client, server
}

// queue writes b to the server's end, then closes it, and waits until
// all of b was written: it is queued in the client's socket.
func queue(t *testing.T, server net.Conn, b []byte) {
	t.Helper()
	if _, err := server.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := server.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// TestBurstConn_OneReadABurst reads a burst of queued events through the
// transport's 4 KiB buffer: the burst comes off the socket in a few
// reads, not one per 4 KiB, intact, and then the end.
func TestBurstConn_OneReadABurst(t *testing.T) {
	want := events(120) // about 36 KiB, within a loopback socket's buffer
	for _, tc := range []struct {
		name               string
		burst              bool
		minReads, maxReads int64
	}{
		// 4 KiB and the rest of 32 KiB, 4 KiB and what remains, the end.
		{"burst", true, 3, 6},
		{"plain", false, int64(len(want)/(4<<10)) + 1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := socketPair(t)
			queue(t, server, want)
			var conn net.Conn = client
			if tc.burst {
				conn = newBurstConn(client)
			}
			got, err := readSmall(bufio.NewReaderSize(conn, 4<<10))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, not the %d queued", len(got), len(want))
			}
			if reads := client.reads.Load(); reads < tc.minReads || reads > tc.maxReads {
				t.Errorf("%d socket reads for %d bytes, want %d to %d", reads, len(want), tc.minReads, tc.maxReads)
			}
		})
	}
}

// readSmall reads r to its end in reads of an event's size, as the
// transport's chunked reader does.
func readSmall(r io.Reader) ([]byte, error) {
	var out []byte
	p := make([]byte, 300)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// TestBurstConn_KeepsNothingIdle checks that the buffer is borrowed only
// for bytes already arrived: not by a read that fits the caller's
// buffer, nor by one that fills it exactly with nothing behind (which
// returns at once, not waiting for more), and that it goes back once
// its bytes are handed over, with no socket read meanwhile.
func TestBurstConn_KeepsNothingIdle(t *testing.T) {
	client, server := socketPair(t)
	c := newBurstConn(client)
	p := make([]byte, 4<<10)
	read := func(want []byte) {
		t.Helper()
		var got []byte
		for len(got) < len(want) {
			n, err := c.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p[:n]...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, want %d", len(got), len(want))
		}
	}

	server.Write([]byte("data: small\n\n"))
	read([]byte("data: small\n\n"))
	if c.buf != nil {
		t.Errorf("a read that fit the caller's buffer borrowed one")
	}

	exact := bytes.Repeat([]byte("x"), len(p))
	server.Write(exact)
	read(exact) // would hang if the full read waited for more
	if c.buf != nil {
		t.Errorf("a read that filled the caller's buffer with nothing behind borrowed one")
	}

	burst := events(40) // about 12 KiB
	server.Write(burst)
	// Once the first read found it all queued, the rest comes from the
	// borrowed buffer.
	var reads int64
	for n := 0; n < len(burst); {
		m, err := c.Read(p[:min(len(p), len(burst)-n)])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p[:m], burst[n:n+m]) {
			t.Fatalf("bytes %d..%d differ", n, n+m)
		}
		if n == 0 {
			if c.buf == nil {
				t.Fatal("a full read with more queued borrowed no buffer")
			}
			reads = client.reads.Load()
		}
		n += m
	}
	if r := client.reads.Load() - reads; r != 0 {
		t.Errorf("%d socket reads while the borrowed buffer held the burst", r)
	}
	if c.buf != nil {
		t.Errorf("the borrowed buffer was kept after its bytes were read")
	}
}

// TestUpstreamTransport_ReadsABurstInFewSyscalls streams an answer
// through the gateway's upstream transport from a server that has sent
// every event, each flushed on its own, before the client reads any: the
// transport takes the whole burst off the socket in a few reads, where
// its 4 KiB buffer alone would take one per buffer's worth.
func TestUpstreamTransport_ReadsABurstInFewSyscalls(t *testing.T) {
	body := events(120) // about 36 KiB, within a loopback socket's buffer
	for _, tc := range []struct {
		name     string
		burst    bool
		maxReads int64
		minReads int64
	}{
		// The burst in two or three reads, and the last chunk, sent as
		// the handler returns, in one or two more.
		{"upstream transport", true, 6, 1},
		{"without burstConn", false, 1 << 20, int64(len(body)/(4<<10)) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				for ev := range bytes.SplitAfterSeq(body, []byte("\n\n")) {
					if len(ev) > 0 {
						w.Write(ev)
						rc.Flush()
					}
				}
				close(sent)
			}))
			defer srv.Close()
			var reads atomic.Int64
			dial := (&net.Dialer{}).DialContext
			counted := func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &countingConn{Conn: c, reads: &reads}, nil
			}
			tr := upstreamTransport()
			tr.DialContext = counted
			if tc.burst {
				tr.DialContext = burstDialer(counted)
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			<-sent
			before := reads.Load()
			got, err := readSmall(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("got %d bytes, want %d", len(got), len(body))
			}
			if n := reads.Load() - before; n < tc.minReads || n > tc.maxReads {
				t.Errorf("%d socket reads for a %d-byte burst of 120 events, want %d to %d", n, len(body), tc.minReads, tc.maxReads)
			}
		})
	}
}

// countingConn counts the reads of a real connection, through Read and
// through its syscall.RawConn.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	raw, err := c.Conn.(syscall.Conn).SyscallConn()
	return countingRaw{raw, c.reads}, err
}

type countingRaw struct {
	syscall.RawConn
	reads *atomic.Int64
}

func (r countingRaw) Read(f func(fd uintptr) bool) error {
	r.reads.Add(1)
	return r.RawConn.Read(f)
}
