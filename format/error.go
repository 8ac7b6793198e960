package format

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Error is every error the weight-file readers (safetensors, gguf, llama2c)
// return; each reader names it as its own Error. It names the file, the
// tensor or metadata key (when one is concerned) and the byte offset in the
// file (-1 when none).
type Error struct {
	Pkg    string // the reader, which prefixes the message: "gguf: ..."
	Path   string
	Tensor string
	Key    string // metadata key, if any
	Offset int64
	Kind   error // one of the reader's Err* sentinels
	Msg    string
	Err    error // underlying cause (I/O, JSON), may be nil
}

// NewError makes an *Error for reader pkg, its message formatted from msg and args.
func NewError(pkg, path, tensor string, off int64, kind, cause error, msg string, args ...any) *Error {
	return &Error{Pkg: pkg, Path: path, Tensor: tensor, Offset: off, Kind: kind, Err: cause, Msg: fmt.Sprintf(msg, args...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pkg)
	b.WriteString(": ")
	b.WriteString(e.Path)
	if e.Tensor != "" {
		fmt.Fprintf(&b, ": tensor %q", e.Tensor)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// OpenFile opens path and parses it with open (a reader's OpenReaderAt). It
// returns the parsed file and the *os.File, for the caller to close; when
// either step fails it closes the file itself. Failures to open or stat are
// reader pkg's errors of the given kind.
func OpenFile[T any](pkg, path string, kind error, open func(name string, r io.ReaderAt, size int64) (T, error)) (T, io.Closer, error) {
	var zero T
	fh, err := os.Open(path)
	if err != nil {
		return zero, nil, NewError(pkg, path, "", -1, kind, err, "cannot open")
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return zero, nil, NewError(pkg, path, "", -1, kind, err, "cannot stat")
	}
	f, err := open(path, fh, st.Size())
	if err != nil {
		fh.Close()
		return zero, nil, err
	}
	return f, fh, nil
}
