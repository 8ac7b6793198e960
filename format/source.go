// Package format holds what every weight-file reader shares: the
// TensorSource view that the engine loads a model from.
package format

// TensorSource is a set of named tensors read on demand, so a loader never
// holds two copies of a model in memory. Names and shapes follow Hugging Face
// transformers' conventions for the model family (row-major, [out, in] for
// linear weights); readers of other formats (GGUF, llama2.c) translate.
type TensorSource interface {
	// Names lists every tensor in the source, sorted.
	Names() []string
	// Shape returns a tensor's row-major dimensions.
	Shape(name string) ([]int, bool)
	// Float32 reads one tensor, converting or dequantising to float32.
	// Errors name the file, the tensor and the byte offset.
	Float32(name string) ([]float32, error)
	// Close releases the underlying files.
	Close() error
}
