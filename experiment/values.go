package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/hook"
)

// ParseError is what the parsers of kinds, cells and metrics return: which
// value, the text given, and what is wrong with it. The CLI and the server
// add where the text came from (a flag, a JSON field).
type ParseError struct {
	What  string // "kind", "per" or "metric"
	Input string
	Msg   string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("experiment: %s %q: %s", e.What, e.Input, e.Msg)
}

// OptionError is a PatchOptions value that Sweep cannot use for this model.
// Option is the option's name as the CLI flag and the API field share it:
// "kind" or "per".
type OptionError struct {
	Option string
	Value  string
	Err    error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("experiment: %s %s: %v", e.Option, e.Value, e.Err)
}
func (e *OptionError) Unwrap() error { return e.Err }

// Kind is the hook a sweep patches at every layer, named as
// TransformerLens's get_act_name names it (mlp_pre and mlp_post are pre and
// post).
type Kind string

const (
	ResidPre  Kind = "resid_pre"
	ResidMid  Kind = "resid_mid"
	ResidPost Kind = "resid_post"
	AttnOut   Kind = "attn_out"
	MLPOut    Kind = "mlp_out"
	Q         Kind = "q"
	K         Kind = "k"
	V         Kind = "v"
	Z         Kind = "z"
	MLPPre    Kind = "mlp_pre"
	MLPPost   Kind = "mlp_post"
)

// kinds are the hooks laid out [batch,pos,...], which a sweep can patch per
// position; get_act_name's pattern and attn_scores are laid out by query
// and key position instead.
var kinds = []Kind{ResidPre, ResidMid, ResidPost, AttnOut, MLPOut, Q, K, V, Z, MLPPre, MLPPost}

// ParseKind reads a kind; "" is resid_pre, and get_act_name's "pre" and
// "post" are mlp_pre and mlp_post.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "pre":
		return MLPPre, nil
	case "post":
		return MLPPost, nil
	}
	return parse("kind", s, ResidPre, kinds)
}

func (k Kind) String() string { return string(k) }

// Hook is the kind's hook at layer l.
func (k Kind) Hook(l int) string {
	switch k {
	case MLPPre:
		return hook.ActName("pre", l)
	case MLPPost:
		return hook.ActName("post", l)
	}
	return hook.ActName(string(k), l)
}

// residual reports whether k is the residual stream, which carries
// everything downstream of it.
func (k Kind) residual() bool { return k == ResidPre || k == ResidMid || k == ResidPost }

// Per is the cell of a sweep.
type Per string

const (
	PerPos    Per = "pos"    // layer × position, every unit
	PerHead   Per = "head"   // layer × head, every position (z, q, k, v)
	PerNeuron Per = "neuron" // layer × unit, every position
	PerLayer  Per = "layer"  // every position and unit of a layer
)

var pers = []Per{PerPos, PerHead, PerNeuron, PerLayer}

// ParsePer reads a cell; "" is pos.
func ParsePer(s string) (Per, error) { return parse("per", s, PerPos, pers) }

func (p Per) String() string { return string(p) }

// Axis is the title of a heat map's column axis.
func (p Per) Axis() string {
	switch p {
	case PerPos:
		return "position"
	case PerNeuron:
		return "unit"
	case PerHead:
		return "head"
	}
	return ""
}

// parse finds s among values ("" is def), or says what the values are.
func parse[T ~string](what, s string, def T, values []T) (T, error) {
	if s == "" {
		return def, nil
	}
	names := make([]string, len(values))
	for i, v := range values {
		if string(v) == s {
			return v, nil
		}
		names[i] = string(v)
	}
	return "", &ParseError{what, s, "want " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]}
}

// Metric is logit-diff:A,B: logit[A] − logit[B] at the last position. A and
// B are single tokens, as text or as #ID.
type Metric struct{ A, B string }

const metricForm = "want logit-diff:TOKA,TOKB (tokens as text, or #ID)"

// ParseMetric reads logit-diff:TOKA,TOKB.
func ParseMetric(s string) (Metric, error) {
	rest, ok := strings.CutPrefix(s, "logit-diff:")
	if !ok {
		return Metric{}, &ParseError{"metric", s, metricForm}
	}
	a, b, ok := strings.Cut(rest, ",")
	if !ok {
		return Metric{}, &ParseError{"metric", s, metricForm}
	}
	if a == "" || b == "" {
		return Metric{}, &ParseError{"metric", s, "a token is empty; " + metricForm}
	}
	return Metric{a, b}, nil
}

func (mt Metric) String() string { return "logit-diff:" + mt.A + "," + mt.B }

// Tokens resolves A and B to token ids of m.
func (mt Metric) Tokens(m *engine.Model) (a, b int32, err error) {
	if a, err = mt.token(m, mt.A); err != nil {
		return 0, 0, err
	}
	b, err = mt.token(m, mt.B)
	return a, b, err
}

func (mt Metric) token(m *engine.Model, s string) (int32, error) {
	fail := func(format string, args ...any) (int32, error) {
		return 0, &ParseError{"metric", mt.String(), fmt.Sprintf(format, args...)}
	}
	if id, ok := strings.CutPrefix(s, "#"); ok {
		v, err := strconv.Atoi(id)
		if err != nil || v < 0 || v >= m.Dims().Vocab {
			return fail("%q is not a token id in [0,%d)", s, m.Dims().Vocab)
		}
		return int32(v), nil
	}
	if m.Tokenizer == nil {
		return fail("%s has no tokenizer: give tokens as #ID", m.Name)
	}
	if id, ok := m.TokenID(s); ok { // a vocabulary entry, before encoding text
		return id, nil
	}
	ids := m.Tokenizer.Encode(s, false)
	if len(ids) != 1 {
		pieces := make([]string, len(ids))
		for i, id := range ids {
			pieces[i] = fmt.Sprintf("%q=#%d", m.Tokenizer.TokenString(id), id)
		}
		return fail("%q is %d tokens (%s); give one token, or #ID", s, len(ids), strings.Join(pieces, " "))
	}
	return int32(ids[0]), nil
}
