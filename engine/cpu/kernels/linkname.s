//go:build !nokernels

// This file lets the package declare the bodyless functions that
// go:linkname binds to compute's internals.
