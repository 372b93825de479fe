package telemetry

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// DefaultLogBufferBytes bounds the access-log lines a LogWriter holds: a
// line that would take it past this writes everything held first.
const DefaultLogBufferBytes = 64 << 10

// LogWriter writes log lines to an io.Writer in fewer, larger writes. Lines
// written through Write (warnings, errors, anything not an access line) go
// out at once, after any lines held, in the same write. Access lines (see
// NewBufferedLogger) are held for at most the flush interval, or until
// DefaultLogBufferBytes of them are held, so that under load one write
// carries many requests' lines. Close writes what is held; a crash loses at
// most the flush interval's worth of access lines, never a warning or an
// error. Lines are never split across writes or interleaved. A LogWriter
// is safe for concurrent use.
type LogWriter struct {
	w     io.Writer
	every time.Duration
	max   int

	mu     sync.Mutex
	buf    []byte // access lines held
	spare  []byte // the previous buf, reused
	timer  *time.Timer
	closed bool
}

// NewLogWriter returns a LogWriter over w holding access lines for at most
// flushInterval; zero or less writes every line at once.
func NewLogWriter(w io.Writer, flushInterval time.Duration) *LogWriter {
	return &LogWriter{w: w, every: flushInterval, max: DefaultLogBufferBytes}
}

// Write writes p, after any held lines, at once.
func (lw *LogWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) == 0 {
		return lw.w.Write(p)
	}
	lw.buf = append(lw.buf, p...)
	if err := lw.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hold takes one access line: held until the flush interval passes or the
// buffer fills, or written at once when lines are not held.
func (lw *LogWriter) hold(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.every <= 0 || lw.closed {
		if len(lw.buf) == 0 {
			return lw.w.Write(p)
		}
		lw.buf = append(lw.buf, p...)
		return len(p), lw.flushLocked()
	}
	if len(lw.buf) > 0 && len(lw.buf)+len(p) > lw.max {
		if err := lw.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(lw.buf) == 0 {
		if lw.timer == nil {
			lw.timer = time.AfterFunc(lw.every, func() { _ = lw.Flush() })
		} else {
			lw.timer.Reset(lw.every)
		}
	}
	lw.buf = append(lw.buf, p...)
	return len(p), nil
}

// Flush writes the lines held.
func (lw *LogWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.flushLocked()
}

func (lw *LogWriter) flushLocked() error {
	if len(lw.buf) == 0 {
		return nil
	}
	_, err := lw.w.Write(lw.buf)
	// A buffer grown by an unusual burst is not kept.
	if cap(lw.buf) <= 2*lw.max {
		lw.buf, lw.spare = lw.spare[:0], lw.buf[:0]
	} else {
		lw.buf = nil
	}
	return err
}

// Close writes the lines held; lines logged afterwards are written at
// once.
func (lw *LogWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.closed = true
	if lw.timer != nil {
		lw.timer.Stop()
	}
	return lw.flushLocked()
}

// held is the io.Writer of access lines.
type held struct{ lw *LogWriter }

func (h held) Write(p []byte) (int, error) { return h.lw.hold(p) }

// NewBufferedLogger returns a JSON logger at level writing through lw:
// access lines (those the Middleware writes) are held, every other record
// is written at once.
func NewBufferedLogger(lw *LogWriter, level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	return slog.New(splitHandler{now: slog.NewJSONHandler(lw, o), later: slog.NewJSONHandler(held{lw}, o)})
}

// accessKey marks the context of an access-log record.
type accessKey struct{}

// splitHandler sends access-log records to later and the rest to now,
// two handlers of the same format over one LogWriter.
type splitHandler struct{ now, later slog.Handler }

func (h splitHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.now.Enabled(ctx, l) }

func (h splitHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx.Value(accessKey{}) != nil {
		return h.later.Handle(ctx, r)
	}
	return h.now.Handle(ctx, r)
}

func (h splitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return splitHandler{now: h.now.WithAttrs(as), later: h.later.WithAttrs(as)}
}

func (h splitHandler) WithGroup(name string) slog.Handler {
	return splitHandler{now: h.now.WithGroup(name), later: h.later.WithGroup(name)}
}
