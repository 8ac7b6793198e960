package cli

import (
	"fmt"
	"math"

	"github.com/glia-dev/glia/intervene"
)

func init() {
	Register(&Command{Name: "steer build", Summary: "build a difference-of-means steering vector at a hook", Run: runSteerBuild})
	Register(&Command{Name: "steer", Summary: "steering vectors: glia steer build (steer with glia generate --intervene)", Run: func(args []string) error {
		fmt.Fprintln(Stderr, "usage: glia steer build --pos PATH --neg PATH --hook HOOK --out vec.safetensors")
		return errUsage
	}})
}

func runSteerBuild(args []string) error {
	fs := newFlags("steer build")
	var mf modelFlags
	mf.register(fs)
	var pos, neg stringList
	fs.Var(&pos, "pos", "positive examples: text file(s), directories or .jsonl (repeatable)")
	fs.Var(&neg, "neg", "negative examples (repeatable)")
	hookName := fs.String("hook", "", "hook point, e.g. blocks.3.hook_resid_post")
	out := fs.String("out", "", "write the vector to this .safetensors file")
	name := fs.String("name", "steer", "tensor name in the file (use it as @FILE:NAME)")
	docSep := fs.String("doc-sep", "\n", "one example per piece of text between separators (default: one per line)")
	ctx := fs.Int("ctx", 128, "tokens per example at most")
	batch := fs.Int("batch", 16, "examples per forward")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(pos) == 0 || len(neg) == 0 || *hookName == "" || *out == "" {
		return fmt.Errorf("give --pos, --neg, --hook and --out")
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	rows := func(paths []string) ([][]int32, error) {
		return intervene.Documents(m, intervene.Text{Paths: paths, DocSep: *docSep, Ctx: *ctx})
	}
	p, err := rows(pos)
	if err != nil {
		return fmt.Errorf("--pos: %w", err)
	}
	n, err := rows(neg)
	if err != nil {
		return fmt.Errorf("--neg: %w", err)
	}
	s, err := intervene.BuildSteering(m, *hookName, p, n, *batch)
	if err != nil {
		return err
	}
	if err := s.Write(*out, *name, m); err != nil {
		return err
	}
	var norm float64
	for _, v := range s.Data {
		norm += float64(v) * float64(v)
	}
	fmt.Fprintf(Stdout, "wrote %s:%s: %s, shape %v, norm %.4f, from %d positive and %d negative examples\n",
		*out, *name, s.Hook, s.Shape, math.Sqrt(norm), s.Pos, s.Neg)
	fmt.Fprintf(Stdout, "steer with: glia generate --intervene '%s[:]+=4*@%s:%s'\n", s.Hook, *out, *name)
	return nil
}
