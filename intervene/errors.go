package intervene

import (
	"errors"
)

// Errors that a front end can act on. Their text says what is wrong in the
// library's terms; the CLI names the flags that fix them, the server its
// request fields.
var (
	// ErrNoMeans: a mean ablation was compiled without a MeanSource.
	ErrNoMeans = errors.New("mean ablation needs a reference: corpus means or an atlas")
	// ErrUseCorpusMeans: an atlas cannot give the mean a hook needs; means
	// over a reference corpus can.
	ErrUseCorpusMeans = errors.New("use means over a reference corpus")
)
