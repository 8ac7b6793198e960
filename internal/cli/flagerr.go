package cli

import (
	"errors"
	"strings"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/intervene"
)

// flagHints name the flags that fix library errors: the libraries speak of
// fields, options and mean sources, the CLI of its flags.
var flagHints = []struct {
	err  error
	hint string
}{
	{corpus.ErrNoField, "set --text-field"},
	{intervene.ErrNoMeans, "pass --mean-corpus PATH or --atlas atlas.db"},
	{intervene.ErrUseCorpusMeans, "pass --mean-corpus PATH"},
}

// withFlags is err's text as the CLI reports it: an option named by the
// library ("per neuron: ...") becomes its flag ("--per neuron: ..."), and
// errors a flag fixes say which.
func withFlags(err error) string {
	msg := err.Error()
	if oe, ok := errors.AsType[*intervene.OptionError](err); ok {
		msg = strings.Replace(msg, oe.Error(), "--"+oe.Error(), 1)
	}
	for _, h := range flagHints {
		if errors.Is(err, h.err) {
			msg += " (" + h.hint + ")"
		}
	}
	return msg
}
