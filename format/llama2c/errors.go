package llama2c

import (
	"errors"

	"github.com/glia-dev/glia/format"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat      = errors.New("malformed checkpoint") // bad header values
	ErrTruncated   = errors.New("wrong file size")      // size disagrees with the header, or short read
	ErrNotFound    = errors.New("tensor not found")     // Float32 of an absent name
	ErrUnsupported = errors.New("unsupported version")  // a versioned file other than v1
)

// Error is every error this package returns: a format.Error whose message
// starts "llama2c: ". It names the file, the tensor (when one is concerned) and
// the byte offset in the file (-1 when none).
type Error = format.Error

func newErr(path, tensor string, off int64, kind, cause error, msg string, args ...any) *Error {
	return format.NewError("llama2c", path, tensor, off, kind, cause, msg, args...)
}
