package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The bench's load generator: closed-loop clients (each sends its next
// request when the last one is answered) and an open loop (requests at a
// fixed arrival rate, whatever the answers do), both on one reused pool of
// connections per client.

// call is one request the load generator sends.
type call struct {
	url, key, body string
	// stream reads the answer as SSE: the outcome's first is the time to
	// the first content chunk and chunks counts them.
	stream bool
}

// outcome is what one request got.
type outcome struct {
	at     time.Duration // start, from the start of the run
	dur    time.Duration // to the end of the answer
	first  time.Duration // to the first content chunk (streams)
	status int           // 0: transport error or timeout
	chunks int           // content chunks (streams)
	bytes  int64         // answer body bytes
	done   bool          // a stream ended with its [DONE] marker
	err    string        // why there was no (whole) answer
}

func (o outcome) ok() bool { return o.status == http.StatusOK }

// newLoadClient returns a client that keeps up to conns connections per
// host alive between requests.
func newLoadClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

var (
	contentMarker      = []byte(`"content":"`)
	emptyContentMarker = []byte(`"content":""`)
	doneMarker         = []byte("data: [DONE]")
)

// send sends one request and reads its whole answer.
func send(ctx context.Context, c *http.Client, cl call, start time.Time) outcome {
	o := outcome{at: time.Since(start)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.url, strings.NewReader(cl.body))
	if err != nil {
		o.err = err.Error()
		return o
	}
	req.Header.Set("Authorization", "Bearer "+cl.key)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		o.dur, o.err = time.Since(t0), errorKind(err)
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	if !cl.stream || resp.StatusCode != http.StatusOK {
		o.bytes, err = io.Copy(io.Discard, resp.Body)
		o.dur = time.Since(t0)
		if err != nil {
			o.status, o.err = 0, errorKind(err)
		}
		return o
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		o.bytes += int64(len(line))
		if bytes.Contains(line, contentMarker) && !bytes.Contains(line, emptyContentMarker) {
			if o.chunks == 0 {
				o.first = time.Since(t0)
			}
			o.chunks++
		} else if bytes.HasPrefix(line, doneMarker) {
			o.done = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err != io.EOF {
				o.status, o.err = 0, errorKind(err)
			}
			break
		}
	}
	o.dur = time.Since(t0)
	return o
}

// errorKind is an error's text without the addresses and URLs that make
// each one unique, so that failures can be counted by kind.
func errorKind(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// closedLoop runs conc clients for d (or until n requests were sent when
// n > 0), each client taking the calls in turn; every outcome goes to
// each, from the clients' goroutines.
func closedLoop(ctx context.Context, c *http.Client, calls []call, conc int, d time.Duration, n int64, each func(outcome)) (sent int64, elapsed time.Duration) {
	return closedLoopVia(ctx, httpSender(c), calls, conc, d, n, each)
}

// sender sends one request and reads its whole answer.
type sender func(ctx context.Context, cl call, start time.Time) outcome

// httpSender sends through c.
func httpSender(c *http.Client) sender {
	return func(ctx context.Context, cl call, start time.Time) outcome { return send(ctx, c, cl, start) }
}

// closedLoopVia is closedLoop through any sender.
func closedLoopVia(ctx context.Context, send sender, calls []call, conc int, d time.Duration, n int64, each func(outcome)) (sent int64, elapsed time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var count, answered atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := count.Add(1)
				if n > 0 && i > n {
					return
				}
				o := send(ctx, calls[int(i)%len(calls)], start)
				if ctx.Err() != nil && !o.ok() {
					return // cut by the end of the run, not an answer
				}
				answered.Add(1)
				each(o)
			}
		})
	}
	wg.Wait()
	return answered.Load(), time.Since(start)
}

// collect gathers outcomes from concurrent clients.
type collect struct {
	mu  sync.Mutex
	out []outcome
}

func (c *collect) add(o outcome) {
	c.mu.Lock()
	c.out = append(c.out, o)
	c.mu.Unlock()
}

func (c *collect) all() []outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out
}

// openLoopResult is an open-loop run.
type openLoopResult struct {
	outcomes []outcome
	// dropped counts arrivals not sent because maxOutstanding requests
	// were already waiting: the generator stays bounded, and says so.
	dropped  int64
	elapsed  time.Duration
	arrivals int64
}

// openLoop sends requests at rate per second for d, whatever the answers
// do, with at most maxOutstanding in flight. Each outcome's times count
// from when its request was due, not from when the generator got round to
// sending it: a generator that falls behind (its loop or its goroutines
// waiting for a CPU the gateway is using) must not leave that wait out of
// the latencies it reports.
func openLoop(ctx context.Context, send sender, cl call, rate float64, d time.Duration, maxOutstanding int) openLoopResult {
	var res openLoopResult
	var col collect
	sem := make(chan struct{}, maxOutstanding)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for ctx.Err() == nil {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		// Every arrival due by now is sent (or dropped) in one go, so the
		// rate holds whatever the timer's resolution.
		due := int64(rate * elapsed.Seconds())
		for ; res.arrivals < due; res.arrivals++ {
			at := time.Duration(float64(res.arrivals) / rate * float64(time.Second))
			select {
			case sem <- struct{}{}:
				wg.Go(func() {
					defer func() { <-sem }()
					o := send(ctx, cl, start)
					if late := o.at - at; late > 0 {
						o.at, o.dur = at, o.dur+late
						if o.first > 0 {
							o.first += late
						}
					}
					col.add(o)
				})
			default:
				res.dropped++
			}
		}
		time.Sleep(max(interval, 200*time.Microsecond))
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.outcomes = col.all()
	return res
}

// rawClient is a lean HTTP/1.1 load generator for unary calls: each
// request is written as pre-rendered bytes on a kept-alive connection
// from its own pool and its answer read with http.ReadResponse, without
// the Transport's two goroutines per connection and their hand-offs. On a
// machine the generator shares with the gateway, what the generator
// spends per request is CPU the gateway does not get: net/http's client
// spends about as much to receive a refusal as the gateway spends to send
// it, which a gateway's remote clients never take from it. Streams are
// not supported (the answer is read whole).
type rawClient struct {
	addr    string
	timeout time.Duration
	idle    chan *rawConn
	dialer  net.Dialer
	// reqs caches each call's request bytes.
	mu   sync.Mutex
	reqs map[call][]byte
}

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// newRawClient returns a client of the server at addr (host:port) that
// keeps up to conns idle connections; each request must be answered
// within timeout.
func newRawClient(addr string, conns int, timeout time.Duration) *rawClient {
	return &rawClient{addr: addr, timeout: timeout, idle: make(chan *rawConn, conns), dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1},
		reqs: map[call][]byte{}}
}

func (c *rawClient) request(cl call) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.reqs[cl]; ok {
		return b, nil
	}
	u, err := url.Parse(cl.url)
	if err != nil {
		return nil, err
	}
	b := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + cl.key +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(cl.body)) + "\r\n\r\n" + cl.body)
	c.reqs[cl] = b
	return b, nil
}

// send is a sender.
func (c *rawClient) send(ctx context.Context, cl call, start time.Time) outcome {
	o := outcome{at: time.Since(start)}
	t0 := time.Now()
	fail := func(err error) outcome {
		o.dur, o.status, o.err = time.Since(t0), 0, errorKind(err)
		return o
	}
	req, err := c.request(cl)
	if err != nil {
		return fail(err)
	}
	var rc *rawConn
	select {
	case rc = <-c.idle:
	default:
		nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return fail(err)
		}
		rc = &rawConn{Conn: nc, br: bufio.NewReaderSize(nc, 4<<10)}
	}
	_ = rc.SetDeadline(t0.Add(c.timeout))
	// The end of the run cuts the request, as net/http's client does.
	defer context.AfterFunc(ctx, func() { _ = rc.SetDeadline(time.Now()) })()
	if _, err := rc.Write(req); err != nil {
		rc.Close()
		return fail(err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.Close()
		return fail(err)
	}
	o.status = resp.StatusCode
	o.bytes, err = io.Copy(io.Discard, resp.Body)
	o.dur = time.Since(t0)
	if err != nil {
		rc.Close()
		o.status, o.err = 0, errorKind(err)
		return o
	}
	if resp.Close {
		rc.Close()
		return o
	}
	select {
	case c.idle <- rc:
	default:
		rc.Close()
	}
	return o
}

// close closes the idle connections.
func (c *rawClient) close() {
	for {
		select {
		case rc := <-c.idle:
			rc.Close()
		default:
			return
		}
	}
}
