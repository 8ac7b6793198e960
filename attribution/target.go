package attribution

import (
	"fmt"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
	. "github.com/gomlx/gomlx/core/graph"
)

// Kind is the scalar an attribution explains.
type Kind string

const (
	Logit     Kind = "logit"      // logits[Pos, Token]
	LogitDiff Kind = "logit-diff" // logits[Pos, Token] − logits[Pos, Other]
	LogProb   Kind = "logprob"    // log softmax(logits[Pos])[Token]
	Loss      Kind = "loss"       // mean next-token cross-entropy over the prompt
)

// Target is the scalar F of one prompt's logits.
type Target struct {
	Kind  Kind  `json:"kind"`
	Pos   int   `json:"pos"` // position; negative counts from the end (-1: the last)
	Token int32 `json:"token"`
	Other int32 `json:"other,omitempty"` // LogitDiff's second token
}

// Error is an attribution error: what went wrong and where.
type Error struct {
	Op  string // dla, lens, ig, gradxact
	Msg string
}

func (e *Error) Error() string { return "attribution: " + e.Op + ": " + e.Msg }

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// resolve checks t against a prompt of n tokens and vocab, and makes Pos
// non-negative.
func (t Target) resolve(op string, n, vocab int) (Target, error) {
	if t.Pos < 0 {
		t.Pos += n
	}
	if t.Pos < 0 || t.Pos >= n {
		return t, errorf(op, "position %d is outside the prompt's %d tokens", t.Pos, n)
	}
	switch t.Kind {
	case Logit, LogProb:
	case LogitDiff:
		if t.Other < 0 || int(t.Other) >= vocab {
			return t, errorf(op, "token %d is outside the vocabulary [0,%d)", t.Other, vocab)
		}
	case Loss:
		if n < 2 {
			return t, errorf(op, "the loss needs at least 2 tokens, the prompt has %d", n)
		}
		return t, nil
	default:
		return t, errorf(op, "unknown target %q (logit, logit-diff, logprob, loss)", t.Kind)
	}
	if t.Token < 0 || int(t.Token) >= vocab {
		return t, errorf(op, "token %d is outside the vocabulary [0,%d)", t.Token, vocab)
	}
	return t, nil
}

// value computes F on the host from one row's logits [t, vocab].
func (t Target) value(logits []float32, ids []int32, vocab int) float64 {
	row := func(p int) []float32 { return logits[p*vocab : (p+1)*vocab] }
	switch t.Kind {
	case LogitDiff:
		r := row(t.Pos)
		return float64(r[t.Token]) - float64(r[t.Other])
	case LogProb:
		r := row(t.Pos)
		return float64(r[t.Token]) - engine.LogSumExp(r)
	case Loss:
		var s float64
		for p := 0; p+1 < len(ids); p++ {
			r := row(p)
			s += engine.LogSumExp(r) - float64(r[ids[p+1]])
		}
		return s / float64(len(ids)-1)
	}
	return float64(row(t.Pos)[t.Token])
}

// graphFn is F summed over the batch rows of logits [batch, pos, vocab]:
// rows are independent, so the gradient of the sum gives each row its own
// gradient. ids are the prompt's tokens (the loss's labels).
func (t Target) graphFn(ids []int32) func(logits *Node) *Node {
	return func(logits *Node) *Node {
		at := func(p int) *Node { return SliceAxis(logits, 1, AxisElem(p)) } // [batch, 1, vocab]
		pick := func(x *Node, tok int32) *Node { return SliceAxis(x, 2, AxisElem(int(tok))) }
		switch t.Kind {
		case LogitDiff:
			return ReduceAllSum(Sub(pick(at(t.Pos), t.Token), pick(at(t.Pos), t.Other)))
		case LogProb:
			return ReduceAllSum(pick(LogSoftmax(at(t.Pos), -1), t.Token))
		case Loss:
			n := len(ids) - 1
			lp := LogSoftmax(SliceAxis(logits, 1, AxisRange(0, n)), -1) // [batch, n, vocab]
			vocab := logits.Shape().Dimensions[2]
			onehot := make([]float32, n*vocab)
			for p := range n {
				onehot[p*vocab+int(ids[p+1])] = 1
			}
			labels := Const(logits.Graph(), onehot)
			labels = Reshape(labels, 1, n, vocab)
			return DivScalar(Neg(ReduceAllSum(Mul(lp, labels))), float64(n))
		}
		return ReduceAllSum(pick(at(t.Pos), t.Token))
	}
}

// key identifies graphFn for the engine's graph cache.
func (t Target) key(ids []int32) string {
	if t.Kind == Loss {
		return fmt.Sprintf("%s:%v", t.Kind, ids)
	}
	return fmt.Sprintf("%s:%d:%d:%d", t.Kind, t.Pos, t.Token, t.Other)
}

// gradTarget is t as the engine's gradient target.
func (t Target) gradTarget(ids []int32) *engine.GradTarget {
	return &engine.GradTarget{Key: t.key(ids), Fn: t.graphFn(ids)}
}

// ParseTarget reads a target as the CLI and the server take it: metric
// (logit-diff:A,B) or token (text or #ID; "" the model's most likely token
// at pos), and objective (logit, logprob, loss; "" logit), at pos of ids.
// Tokens are parsed as experiment.Metric parses them.
func ParseTarget(m *engine.Model, ids []int32, pos int, token, metric, objective string) (Target, error) {
	t := Target{Kind: Kind(objective), Pos: pos}
	if t.Kind == "" {
		t.Kind = Logit
	}
	var err error
	switch {
	case token != "" && metric != "":
		return t, errorf("target", "give a token or a metric, not both")
	case metric != "":
		mt, err := experiment.ParseMetric(metric)
		if err != nil {
			return t, err
		}
		if t.Token, t.Other, err = mt.Tokens(m); err != nil {
			return t, err
		}
		t.Kind = LogitDiff
	case token != "":
		if t.Token, _, err = (experiment.Metric{A: token, B: token}).Tokens(m); err != nil {
			return t, err
		}
	case t.Kind != Loss:
		r, err := t.resolve("target", len(ids), m.Dims().Vocab)
		if err != nil {
			return t, err
		}
		res, err := m.Run(engine.Request{IDs: [][]int32{ids}})
		if err != nil {
			return t, err
		}
		v := m.Dims().Vocab
		t.Token = int32(engine.TopTokens(res.Logits.Data[r.Pos*v:(r.Pos+1)*v], 1)[0].ID)
	}
	return t.resolve("target", len(ids), m.Dims().Vocab)
}

// Describe is the target in words, tokens as people read them.
func (t Target) Describe(m *engine.Model, ids []int32) string {
	q := func(id int32) string { return fmt.Sprintf("%q (#%d)", m.TokenText(id), id) }
	switch t.Kind {
	case Loss:
		return fmt.Sprintf("next-token loss over %d tokens", len(ids))
	case LogitDiff:
		return fmt.Sprintf("logit %s − logit %s at position %d %q", q(t.Token), q(t.Other), t.Pos, m.TokenText(ids[t.Pos]))
	}
	return fmt.Sprintf("%s %s at position %d %q", t.Kind, q(t.Token), t.Pos, m.TokenText(ids[t.Pos]))
}
