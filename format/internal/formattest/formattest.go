// Package formattest holds what the weight-file readers' tests share. It is
// imported only by tests.
package formattest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/glia-dev/glia/format"
)

// WantError fails t unless err, from opening a file (c, closed when err is
// nil), is a *format.Error of the given kind whose message starts with prefix
// and contains want.
func WantError(t testing.TB, c io.Closer, err, kind error, prefix, want string) {
	t.Helper()
	if err == nil {
		c.Close()
		t.Fatal("no error")
	}
	var e *format.Error
	if !errors.As(err, &e) || !errors.Is(err, kind) {
		t.Fatalf("got %T %v, want kind %v", err, err, kind)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, want) {
		t.Fatalf("message %q lacks %q", msg, want)
	}
}

// Fuzz adds seeds to f's corpus and fuzzes open: an input that does not open
// must fail with a *format.Error; a file that opens is handed to check with
// its bytes, then closed.
func Fuzz[T io.Closer](f *testing.F, seeds [][]byte, open func(data []byte) (T, error), check func(t *testing.T, data []byte, file T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := open(data)
		if err != nil {
			if _, ok := err.(*format.Error); !ok {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		defer file.Close()
		check(t, data, file)
	})
}

// WriteFuzzSeeds writes seeds as the committed corpus of fuzz target name
// (testdata/fuzz/name) when GLIA_WRITE_FUZZ_SEEDS=1 is set; otherwise it
// skips t.
func WriteFuzzSeeds(t *testing.T, name string, seeds [][]byte) {
	if os.Getenv("GLIA_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set GLIA_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
