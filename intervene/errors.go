package intervene

import (
	"errors"
	"fmt"
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

// OptionError is a PatchOptions value that Sweep cannot use. Option is the
// option's name as the CLI flag and the API field share it: "hook" (Kind)
// or "per".
type OptionError struct {
	Option string
	Value  string
	Err    error
}

func (e *OptionError) Error() string { return fmt.Sprintf("%s %s: %v", e.Option, e.Value, e.Err) }
func (e *OptionError) Unwrap() error { return e.Err }
