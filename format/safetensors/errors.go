package safetensors

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat    = errors.New("malformed file")      // structurally invalid header or layout
	ErrTruncated = errors.New("truncated file")      // a range points past the end of the file
	ErrNotFound  = errors.New("tensor not found")    // Float32 or Shape of an absent name
	ErrDType     = errors.New("unsupported dtype")   // unknown dtype, or not convertible to float32
	ErrShape     = errors.New("shape mismatch")      // element count disagrees with the byte range
	ErrWrite     = errors.New("invalid write input") // bad input to Write
)

// Error is every error this package returns. It names the file, the tensor
// (when one is concerned) and the byte offset in the file (-1 when none).
type Error struct {
	Path   string
	Tensor string
	Offset int64
	Kind   error // one of the Err* sentinels
	Msg    string
	Err    error // underlying cause (I/O, JSON), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	b.WriteString(e.Path)
	if e.Tensor != "" {
		fmt.Fprintf(&b, ": tensor %q", e.Tensor)
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

func newErr(path, tensor string, off int64, kind error, cause error, format string, args ...any) *Error {
	return &Error{Path: path, Tensor: tensor, Offset: off, Kind: kind, Err: cause, Msg: fmt.Sprintf(format, args...)}
}
