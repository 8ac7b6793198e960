package llama2c

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat      = errors.New("malformed checkpoint") // bad header values
	ErrTruncated   = errors.New("wrong file size")      // size disagrees with the header, or short read
	ErrNotFound    = errors.New("tensor not found")     // Float32 of an absent name
	ErrUnsupported = errors.New("unsupported version")  // a versioned file other than v1
)

// Error is every error this package returns; it names the file, the tensor
// (if any) and the byte offset (-1 when none).
type Error struct {
	Path   string
	Tensor string
	Offset int64
	Kind   error
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llama2c: ")
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

// Unwrap exposes the kind and the cause to errors.Is / errors.As.
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

func newErr(path, tensor string, off int64, kind, cause error, format string, args ...any) *Error {
	return &Error{Path: path, Tensor: tensor, Offset: off, Kind: kind, Err: cause, Msg: fmt.Sprintf(format, args...)}
}
