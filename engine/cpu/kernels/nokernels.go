//go:build nokernels

package kernels

// Built with -tags nokernels: no go:linkname, so nothing reaches into
// compute; Install reports stock kernels and installs nothing.

func init() { notLinked = "built with -tags nokernels" }

func installDot() (string, error)       { panic("unreachable: " + notLinked) }
func installOps() (string, error)       { panic("unreachable: " + notLinked) }
func installAttention() (string, error) { panic("unreachable: " + notLinked) }
