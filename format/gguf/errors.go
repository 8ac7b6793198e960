package gguf

import (
	"errors"

	"github.com/glia-dev/glia/format"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat      = errors.New("malformed file")         // structurally invalid
	ErrTruncated   = errors.New("truncated file")         // a range points past the end of the file
	ErrNotFound    = errors.New("not found")              // absent tensor or required key
	ErrUnsupported = errors.New("unsupported")            // version, endianness or tensor type not handled
	ErrType        = errors.New("metadata type mismatch") // accessor used on a value of another type
	ErrTooLarge    = errors.New("metadata too large")     // the header would take more than MaxMetadata bytes of memory
)

// Error is every error this package returns: a format.Error whose message
// starts "gguf: ". It names the file, the tensor (when one is concerned) or
// metadata key, and the byte offset in the file (-1 when none).
type Error = format.Error

func newErr(path, tensor string, off int64, kind, cause error, msg string, args ...any) *Error {
	return format.NewError("gguf", path, tensor, off, kind, cause, msg, args...)
}

func keyErr(path, key string, off int64, kind, cause error, msg string, args ...any) *Error {
	e := newErr(path, "", off, kind, cause, msg, args...)
	e.Key = key
	return e
}
