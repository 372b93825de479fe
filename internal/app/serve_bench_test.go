package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"switchyard/internal/config"
	"switchyard/internal/store/sqlstore"
)

// servedAnswer is a typical non-streamed answer of an OpenAI channel.
const servedAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1733000000,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Gateways route requests between clients and the services behind them.","refusal":null,"annotations":[]},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":12,"total_tokens":26,` +
	`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_bench"}`

// BenchmarkServeFastPath measures one non-streamed request on the fast
// path (OpenAI client to OpenAI channel) through the whole gateway as
// `switchyard bench` runs it: Start with the SQLite ledger, the request
// log and the info log written to a file, a key with RPM, TPM and a
// budget, real sockets on both sides. The client and the upstream are
// raw HTTP/1.1 loops that allocate nothing per request, so the figures
// are the gateway's own (the ledger's batched writes included, as they
// happen).
func BenchmarkServeFastPath(b *testing.B) {
	up := cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(servedAnswer))+"\r\n\r\n"+servedAnswer)
	dir := b.TempDir()
	dsn := filepath.Join(dir, "bench.db")
	cfg, err := config.Parse(fmt.Appendf(nil, `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: %s}
limits: {backend: memory}
providers:
  - {name: upstream, type: openai, base_url: "http://%s/openai/v1", api_key_env: BENCH_UPSTREAM_KEY}
models:
  - name: bench-model
    offerings: [{provider: upstream, upstream_model: gpt-4o-mini, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}]
`, dsn, up))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	iss, err := benchKey(ctx, sqlstore.DriverSQLite, dsn)
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	env := &Env{Getenv: func(k string) string {
		if k == "BENCH_UPSTREAM_KEY" {
			return "upstream-key"
		}
		return ""
	}, Stdout: io.Discard, Stderr: logFile}
	inst, err := Start(ctx, cfg, env, StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := inst.Shutdown(); err != nil {
			b.Error(err)
		}
	}()
	req := []byte("POST /v1/chat/completions HTTP/1.1\r\nHost: " + inst.Addr() + "\r\nAuthorization: Bearer " + iss.Secret +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(benchBody)) + "\r\n\r\n" + benchBody)
	c, err := net.Dial("tcp", inst.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	do := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		status, _, err := readRaw(br)
		if err != nil {
			b.Fatal(err)
		}
		if status != 200 {
			b.Fatalf("status %d", status)
		}
	}
	for range 100 { // warm up: connections, pools, the key's cache
		do()
	}
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}

// cannedServer answers every HTTP/1.1 request on a kept-alive connection
// with answer, allocating nothing per request; it returns its address.
func cannedServer(tb testing.TB, answer string) string {
	raw := []byte(answer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, _, err := readRaw(br); err != nil {
						return
					}
					if _, err := c.Write(raw); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readRaw reads one HTTP/1.1 message with a Content-Length body from br
// and discards its body; for a response it returns the status.
func readRaw(br *bufio.Reader) (status int, n int, err error) {
	first := true
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			first = false
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && len(line) >= 12 {
				status, _ = strconv.Atoi(string(line[9:12]))
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := br.Discard(length); err != nil {
		return 0, 0, err
	}
	return status, length, nil
}
