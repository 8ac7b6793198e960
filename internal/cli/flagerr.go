package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/glia-dev/glia/corpus"
	"github.com/glia-dev/glia/experiment"
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
	if oe, ok := errors.AsType[*experiment.OptionError](err); ok {
		flag := map[string]string{"kind": "hook"}[oe.Option]
		if flag == "" {
			flag = oe.Option
		}
		msg = strings.Replace(msg, oe.Error(), fmt.Sprintf("--%s %s: %v", flag, oe.Value, oe.Err), 1)
	}
	for _, h := range flagHints {
		if errors.Is(err, h.err) {
			msg += " (" + h.hint + ")"
		}
	}
	return msg
}
