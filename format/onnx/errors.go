package onnx

import (
	"errors"

	"github.com/glia-dev/glia/format"
)

// Sentinel kinds carried by *Error; test with errors.Is.
var (
	ErrFormat      = errors.New("malformed file")    // bad protobuf wire data or an inconsistent message
	ErrTruncated   = errors.New("truncated file")    // a field runs past the end of its message
	ErrNotFound    = errors.New("tensor not found")  // Float32 or Shape of an absent name
	ErrDType       = errors.New("unsupported dtype") // a tensor type this reader does not decode
	ErrShape       = errors.New("shape mismatch")    // element count disagrees with the dims
	ErrUnsupported = errors.New("unsupported")       // valid ONNX this reader does not handle (external data)
)

// Error is every error this package returns: a format.Error whose message
// starts "onnx: ". It names the file, the tensor or node (in Tensor, as
// "node p2o.Conv.5 (Conv)" for nodes), and the byte offset in the file (-1
// when none).
type Error = format.Error

func newErr(path, what string, off int64, kind, cause error, msg string, args ...any) *Error {
	return format.NewError("onnx", path, what, off, kind, cause, msg, args...)
}
