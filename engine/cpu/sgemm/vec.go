package sgemm

// Axpy sets y += alpha·x (len(x) ≥ len(y)), with the vector kernel where
// there is one: package sae's sparse products are rows of axpys and dots.
func Axpy(alpha float32, x, y []float32) { axpyTo(alpha, x, y) }

// Dot returns Σ x·y over len(x) (len(y) ≥ len(x)).
func Dot(x, y []float32) float32 { return dotOf(x, y) }
