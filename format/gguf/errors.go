package gguf

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat      = errors.New("malformed file")         // structurally invalid
	ErrTruncated   = errors.New("truncated file")         // a range points past the end of the file
	ErrNotFound    = errors.New("not found")              // absent tensor or required key
	ErrUnsupported = errors.New("unsupported")            // version, endianness or tensor type not handled
	ErrType        = errors.New("metadata type mismatch") // accessor used on a value of another type
)

// Error is every error this package returns; it names the file, the tensor
// (if any) and the byte offset (-1 when none).
type Error struct {
	Path   string
	Tensor string
	Key    string // metadata key, if any
	Offset int64
	Kind   error
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gguf: ")
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

func keyErr(path, key string, off int64, kind, cause error, format string, args ...any) *Error {
	return &Error{Path: path, Key: key, Offset: off, Kind: kind, Err: cause, Msg: fmt.Sprintf(format, args...)}
}
