package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Certificates is a listener's TLS identity read from PEM files: a
// certificate chain, its key and, optionally, the authorities client
// certificates must come from. Every handshake stats the files (a few
// microseconds, far below the handshake's own cost) and re-reads them when
// one's size or modification time changed, so a renewed certificate is
// served to new connections without a restart or a signal; Reload re-reads
// them whatever stat says (SIGHUP). A set of files that does not load is
// logged once and the previous one stays in service.
type Certificates struct {
	certFile, keyFile, caFile string
	log                       *slog.Logger
	// cur is the configuration handshakes use; seen is the stamp of the
	// files last tried, loaded or not, so that a bad pair is logged once
	// and not re-read on every handshake.
	cur  atomic.Pointer[tls.Config]
	seen atomic.Pointer[fileStamp]
	mu   sync.Mutex // serialises loads
}

// fileStamp is what stat says of each file, in certFile, keyFile, caFile
// order.
type fileStamp [3]struct {
	size  int64
	mtime time.Time
}

// NewCertificates loads the files and fails when they do not make a
// usable identity, so that a gateway with a bad pair does not start.
// clientCAFile may be empty; when set, clients must present a certificate
// one of its authorities issued.
func NewCertificates(certFile, keyFile, clientCAFile string, log *slog.Logger) (*Certificates, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificates{certFile: certFile, keyFile: keyFile, caFile: clientCAFile, log: log}
	if err := c.load(c.stamp()); err != nil {
		return nil, err
	}
	return c, nil
}

// TLSConfig is the configuration for tls.Server and tls.NewListener: each
// handshake gets the current certificate (and client authorities) through
// GetConfigForClient.
func (c *Certificates) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn, GetConfigForClient: c.forClient}
}

// alpn offers HTTP/2 first: the AWS SDKs, like browsers, use it when the
// server offers it, as Bedrock does.
var alpn = []string{"h2", "http/1.1"}

func (c *Certificates) forClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	if st := c.stamp(); st != *c.seen.Load() {
		c.mu.Lock()
		// Another handshake may have loaded these files meanwhile.
		if st != *c.seen.Load() {
			if err := c.load(st); err != nil {
				c.log.Error("TLS certificate files changed but do not load; the previous certificate stays in service",
					"cert_file", c.certFile, "err", err)
			} else {
				c.log.Info("TLS certificate reloaded", "cert_file", c.certFile)
			}
		}
		c.mu.Unlock()
	}
	return c.cur.Load(), nil
}

// Reload re-reads the files even when stat sees no change. On error the
// previous certificate stays in service.
func (c *Certificates) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(c.stamp()); err != nil {
		return fmt.Errorf("reloading TLS certificate %s: %w", c.certFile, err)
	}
	return nil
}

func (c *Certificates) stamp() fileStamp {
	var st fileStamp
	for i, f := range [3]string{c.certFile, c.keyFile, c.caFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			st[i].size, st[i].mtime = fi.Size(), fi.ModTime()
		}
	}
	return st
}

// load reads the files into a new configuration. st is their stamp taken
// before reading, so that a file replaced while it is read is read again
// at the next handshake.
func (c *Certificates) load(st fileStamp) error {
	c.seen.Store(&st)
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn, Certificates: []tls.Certificate{pair}}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate", c.caFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	c.cur.Store(cfg)
	return nil
}

// TLSListener terminates TLS on ln's connections for the client listener.
// The connections it returns read and write plain text and do not present
// themselves as TLS connections to net/http: Listener then wraps them as
// it does plain ones, so Go's own refusals are still rendered in the
// client's dialect and HTTP/2 frames still pass through h2Rewriter. An
// HTTP/2 client that negotiated h2 by ALPN begins with the connection
// preface, which the server's unencrypted HTTP/2 support recognises as it
// does for h2c (so a request's TLS field is nil on this listener).
//
// handshakeTimeout bounds the handshake's writes; its reads are bounded by
// the read deadline net/http sets before reading a request's headers
// (server.read_header_timeout).
func (s *Server) TLSListener(ln net.Listener, cfg *tls.Config, handshakeTimeout time.Duration) net.Listener {
	return &tlsListener{Listener: ln, cfg: cfg, s: s, timeout: handshakeTimeout}
}

type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	s       *Server
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.timeout > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(l.timeout))
	}
	return &tlsConn{Conn: tls.Server(c, l.cfg), raw: c, s: l.s}, nil
}

// tlsConn completes the handshake on its first read, before net/http sees
// a byte. It embeds net.Conn, not *tls.Conn, so that it has no
// ConnectionState method (see TLSListener).
type tlsConn struct {
	net.Conn // the *tls.Conn
	raw      net.Conn
	s        *Server
	once     sync.Once
	err      error
}

func (c *tlsConn) Read(p []byte) (int, error) {
	c.once.Do(c.handshake)
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) Write(p []byte) (int, error) {
	c.once.Do(c.handshake)
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Write(p)
}

func (c *tlsConn) handshake() {
	c.err = c.Conn.(*tls.Conn).Handshake()
	var rh tls.RecordHeaderError
	if errors.As(c.err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader) {
		// A plain-HTTP client on the https port: tell it so, in the
		// OpenAI shape (the path is not read yet), as net/http does on
		// its own TLS listeners.
		_, _ = rh.Conn.Write(c.s.renderRefusal(dialectOpenAI, 400, "this port speaks HTTPS and the request came in plain HTTP"))
		return
	}
	if c.err == nil {
		_ = c.raw.SetWriteDeadline(time.Time{})
	}
}

// looksLikeHTTP reports whether a TLS record header is the start of an
// HTTP/1.x request line.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE":
		return true
	}
	return false
}

func (c *tlsConn) CloseWrite() error { return closeWrite(c.Conn) }
