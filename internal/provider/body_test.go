package provider

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"runtime"
	"testing"
	"weak"
)

// A request body can be replayed until it is released; after that the
// request no longer holds the bytes, so a streamed answer, which keeps
// its request, does not keep the prompt.
func TestSetBody(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("prompt "), 1<<14)
	held := weak.Make(&body[0])
	release := SetBody(r, body)
	body = nil
	if r.ContentLength != 7<<14 {
		t.Errorf("content length %d", r.ContentLength)
	}
	for i := range 2 { // the body, then a replay
		got, err := io.ReadAll(r.Body)
		if err != nil || len(got) != 7<<14 || !bytes.HasPrefix(got, []byte("prompt prompt")) {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
		r.Body.Close()
		if r.Body, err = r.GetBody(); err != nil {
			t.Fatal(err)
		}
	}
	r.Body.Close()
	release()
	if _, err := r.GetBody(); !errors.Is(err, errBodyReleased) {
		t.Errorf("GetBody after release: %v", err)
	}
	runtime.GC()
	if held.Value() != nil {
		t.Error("the request still holds its body after release")
	}
	runtime.KeepAlive(r)
}
