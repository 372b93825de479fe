package sse

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readAll(t *testing.T, in string, max int) ([]Event, error) {
	t.Helper()
	rd := NewReaderSize(strings.NewReader(in), max)
	var out []Event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		ev.Data = append([]byte(nil), ev.Data...)
		out = append(out, ev)
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Event
	}{
		{"data_only", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []Event{{Data: []byte(`{"a":1}`)}, {Data: []byte("[DONE]")}}},
		{"named", "event: ping\ndata: {}\n\n", []Event{{Type: "ping", Data: []byte("{}")}}},
		{"crlf", "event: x\r\ndata: 1\r\n\r\n", []Event{{Type: "x", Data: []byte("1")}}},
		{"multiline", "data: a\ndata: b\n\n", []Event{{Data: []byte("a\nb")}}},
		{"comments_and_blank", ": keep-alive\n\n\n\ndata: z\n\n", []Event{{Data: []byte("z")}}},
		{"no_space", "data:z\n\n", []Event{{Data: []byte("z")}}},
		{"no_trailing_blank", "data: last", []Event{{Data: []byte("last")}}},
		{"bom", "\xef\xbb\xbfdata: 1\n\n", []Event{{Data: []byte("1")}}},
		{"id", "id: 7\ndata: q\n\n", []Event{{ID: "7", Data: []byte("q")}}},
		{"id_carries_over", "id: 7\n\ndata: q\n\n", []Event{{ID: "7", Data: []byte("q")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, DefaultMaxEvent)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReader_TooLarge(t *testing.T) {
	_, err := readAll(t, "data: "+strings.Repeat("x", 100)+"\n\n", 50)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_, err = readAll(t, strings.Repeat("data: xxxxxxxx\n", 20)+"\n", 50)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("multi-line err = %v, want ErrTooLarge", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: {}\n\n", "event: a\ndata: b\r\n\r\n", ":c\n\ndata", "data: a\ndata: b\n\nid: 1\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rd := NewReaderSize(strings.NewReader(in), 1024)
		total := 0
		for i := 0; ; i++ {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			total += len(ev.Data)
			if len(ev.Data) > 1024 {
				t.Fatalf("event of %d bytes past the limit", len(ev.Data))
			}
			if i > len(in)+1 {
				t.Fatalf("more events than input bytes")
			}
		}
	})
}
