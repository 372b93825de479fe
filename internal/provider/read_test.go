package provider

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadCapped(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name    string
		r       io.Reader
		limit   int64
		want    string
		wantErr error
	}{
		{"empty", strings.NewReader(""), 5, "", nil},
		{"under_the_limit", strings.NewReader("1234"), 5, "1234", nil},
		{"at_the_limit", strings.NewReader("12345"), 5, "12345", nil},
		{"over_the_limit", strings.NewReader("123456789"), 5, "12345", ErrTooLarge},
		{"one_byte_reads", iotest.OneByteReader(strings.NewReader("123456")), 5, "12345", ErrTooLarge},
		{"read_error", io.MultiReader(strings.NewReader("12"), iotest.ErrReader(boom)), 5, "12", boom},
		{"zero_limit", strings.NewReader("1"), 0, "", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCapped(tc.r, tc.limit)
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestReadCappedLen(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		name        string
		r           io.Reader
		size, limit int64
		want        string
		wantErr     error
	}{
		{"announced", strings.NewReader("1234"), 4, 5, "1234", nil},
		{"unknown", strings.NewReader("1234"), -1, 5, "1234", nil},
		{"shorter_than_announced", strings.NewReader("12"), 4, 5, "12", nil},
		{"longer_than_announced", iotest.OneByteReader(strings.NewReader("12345")), 2, 5, "12345", nil},
		{"over_the_limit", strings.NewReader("123456789"), 3, 5, "12345", ErrTooLarge},
		{"announced_over_the_limit", strings.NewReader("123456789"), 9, 5, "12345", ErrTooLarge},
		{"read_error", io.MultiReader(strings.NewReader("12"), iotest.ErrReader(boom)), 4, 5, "12", boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCappedLen(tc.r, tc.size, tc.limit)
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
