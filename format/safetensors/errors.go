package safetensors

import (
	"errors"

	"github.com/glia-dev/glia/format"
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

// Error is every error this package returns: a format.Error whose message
// starts "safetensors: ". It names the file, the tensor (when one is concerned) and
// the byte offset in the file (-1 when none).
type Error = format.Error

func newErr(path, tensor string, off int64, kind, cause error, msg string, args ...any) *Error {
	return format.NewError("safetensors", path, tensor, off, kind, cause, msg, args...)
}
