package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The server: settings reach both listeners: a request whose headers
// never end is cut by read_header_timeout on each, the admin listener
// resets connections past admin_max_connections, a body that never ends
// is cut by read_timeout, and Go's own refusal of a bad escape reaches a
// client in its dialect.
func TestServe_EdgeBounds(t *testing.T) {
	g := startGateway(t, twoCloudConfig+`
server:
  read_header_timeout: 200ms
  read_timeout: 300ms
  admin_max_connections: 2
`)
	open := func(addr string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A hang guard, far past every timeout configured above.
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	closedByServer := func(t *testing.T, br *bufio.Reader) {
		t.Helper()
		_, err := br.ReadByte()
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("connection not closed by the server: %v", err)
		}
	}

	for name, addr := range map[string]string{"client": g.inst.Addr(), "admin": g.inst.AdminAddr()} {
		t.Run("header_timeout_"+name, func(t *testing.T) {
			c, br := open(addr)
			fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			closedByServer(t, br)
		})
	}

	t.Run("admin_cap", func(t *testing.T) {
		var held []net.Conn
		for range 2 {
			c, br := open(g.inst.AdminAddr())
			fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			held = append(held, c)
		}
		if c, err := net.Dial("tcp", g.inst.AdminAddr()); err == nil {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
			closedByServer(t, bufio.NewReader(c))
		}
	})

	t.Run("body_timeout", func(t *testing.T) {
		c, br := open(g.inst.Addr())
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 500\r\n\r\n{", g.key)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"error"`) {
			t.Fatalf("%d %s, want 408 in the OpenAI shape", resp.StatusCode, body)
		}
	})

	t.Run("bad_escape", func(t *testing.T) {
		c, br := open(g.inst.Addr())
		fmt.Fprint(c, "POST /model/%ZZ/converse HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "ValidationException:") {
			t.Fatalf("%d %v %s, want 400 ValidationException", resp.StatusCode, resp.Header, body)
		}
	})
}
