package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/api"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/images"
)

func init() {
	Register(&Command{Name: "run", Summary: "run a prompt: next-token distribution, or hooks and gradients to safetensors", Run: runRun})
}

func runRun(args []string) error {
	fs := newFlags("run")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("prompt", "", "text to run (encoded with the model's tokenizer, BOS added)")
	idsFlag := fs.String("ids", "", `token ids: "3 17 42;5 6 7" (sequences of equal length, separated by ';')`)
	imageFlag := fs.String("image", "", "image models: a .png/.jpg file or FILE.u8:N, preprocessed as the model's preprocessor_config.json says (logits [1, 1, classes])")
	save := fs.String("save", "", "write logits, requested hooks and gradients to this .safetensors file")
	var hooks stringList
	fs.Var(&hooks, "hook", "hook point to save (repeatable; globs like blocks.*.mlp.hook_post work)")
	grad := fs.String("grad", "", `"B,POS,TOKEN": also save the gradient of logits[B,POS,TOKEN] wrt each hook, as grad:NAME`)
	top := fs.Int("top", 10, "how many next tokens to show")
	asJSON := fs.Bool("json", false, "machine-readable output")
	var specs stringList
	fs.Var(&specs, "intervene", "run under an intervention: HOOK[pos][units] OP VALUE (repeatable; docs/interventions.md); logits and hooks are saved as intervened")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *imageFlag != "" && (*prompt != "" || *idsFlag != ""):
		return usagef("give --image, or --prompt or --ids, not both")
	case *imageFlag != "":
	case *prompt != "" && *idsFlag != "":
		return usagef("give --prompt or --ids, not both")
	case *prompt == "" && *idsFlag == "" && isSet(fs, "prompt"):
		return usagef("--prompt is empty: give some text")
	case *prompt == "" && *idsFlag == "":
		return usagef(`missing the input: give --prompt TEXT or --ids "1 2 3"`)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	var ids [][]int32
	var pixels *engine.Array
	if *imageFlag != "" {
		if pixels, err = loadImage(m, *imageFlag); err != nil {
			return err
		}
		ids = [][]int32{{0}} // one row of one position, for printing the logits
	} else if *idsFlag != "" {
		if ids, err = parseIDs(*idsFlag); err != nil {
			return err
		}
	} else {
		p, err := encodePrompt(m, *prompt)
		if err != nil {
			return err
		}
		ids = [][]int32{p}
	}
	names, err := m.MatchHooks(hooks...)
	if err != nil {
		return fmt.Errorf("--hook: %w", err)
	}
	ivs, err := interventionsFor(m, specs)
	if err != nil {
		return err
	}
	req := engine.Request{IDs: ids, Hooks: names, Interventions: ivs}
	if pixels != nil {
		req.IDs, req.Pixels = nil, pixels
	}
	if *grad != "" {
		g, err := parseGrad(*grad)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("--grad needs at least one --hook to differentiate with respect to")
		}
		req.Grad = &g
	}
	res, err := m.Run(req)
	if err != nil {
		return err
	}
	if *save != "" {
		if err := saveResult(*save, res, names, req.Grad != nil); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(Stderr, "wrote %s: logits %v and %d hook tensor(s)\n", *save, res.Logits.Shape, len(names)*(1+boolInt(req.Grad != nil)))
		}
	}
	if err := printTop(m, res, ids, *top, *asJSON, *save == ""); err != nil {
		return err
	}
	if *save == "" && !*asJSON && len(names) > 0 {
		printHookSummary(names, res, len(ids[0]))
		fmt.Fprintln(Stderr, "(pass --save FILE.safetensors to keep the hook values)")
	}
	return nil
}

// printHookSummary shows each hook's shape and, for hooks with a position
// axis, its largest units at the last position of the first sequence.
func printHookSummary(names []string, res *engine.Result, seq int) {
	fmt.Fprintln(Stdout)
	for _, n := range names {
		a := res.Acts[n]
		fmt.Fprintf(Stdout, "%s %v", n, a.Shape)
		if len(a.Shape) < 3 || a.Shape[1] != seq || strings.HasSuffix(n, "hook_pattern") || strings.HasSuffix(n, "hook_attn_scores") {
			fmt.Fprintln(Stdout) // [batch, head, q, k]: no unit axis to rank
			continue
		}
		width := len(a.Data) / (a.Shape[0] * seq)
		last := a.Data[(seq-1)*width : seq*width]
		order := make([]int, width)
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(i, j int) bool { return last[order[i]] > last[order[j]] })
		fmt.Fprintf(Stdout, "  top units at the last position:")
		for _, u := range order[:min(5, width)] {
			fmt.Fprintf(Stdout, " %d (%.3g)", u, last[u])
		}
		fmt.Fprintln(Stdout)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseGrad(s string) (engine.GradTarget, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return engine.GradTarget{}, fmt.Errorf(`--grad wants "B,POS,TOKEN", got %q`, s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return engine.GradTarget{}, fmt.Errorf(`--grad wants "B,POS,TOKEN" integers, got %q`, s)
		}
		v[i] = n
	}
	return engine.GradTarget{Batch: v[0], Pos: v[1], Token: v[2]}, nil
}

func saveResult(path string, res *engine.Result, names []string, grads bool) error {
	ts := []safetensors.Tensor{{Name: "logits", Shape: res.Logits.Shape, Data: res.Logits.Data}}
	for _, n := range names {
		a := res.Acts[n]
		ts = append(ts, safetensors.Tensor{Name: n, Shape: a.Shape, Data: a.Data})
	}
	if grads {
		for _, n := range names {
			g := res.Grads[n]
			ts = append(ts, safetensors.Tensor{Name: "grad:" + n, Shape: g.Shape, Data: g.Data})
		}
	}
	return safetensors.Write(path, ts, map[string]string{"producer": "glia run"})
}

// topToken is what run prints, in the API's JSON form.
type topToken = api.NextToken

// printTop shows the next-token distribution after the last position of
// each sequence.
func printTop(m *engine.Model, res *engine.Result, ids [][]int32, k int, asJSON, always bool) error {
	if !asJSON && !always {
		return nil
	}
	v := res.Logits.Shape[2]
	t := res.Logits.Shape[1]
	var all [][]topToken
	for b := range ids {
		row := res.Logits.Data[(b*t+t-1)*v : (b*t+t)*v]
		all = append(all, topK(m, row, k))
	}
	if asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{"model": m.Name, "ids": ids, "next": all})
	}
	for b, tops := range all {
		if len(all) > 1 {
			fmt.Fprintf(Stdout, "sequence %d:\n", b)
		}
		for i, tt := range tops {
			fmt.Fprintf(Stdout, "%2d  %6.2f%%  %6d  %q\n", i+1, 100*tt.Prob, tt.ID, tt.Token)
		}
	}
	return nil
}

func topK(m *engine.Model, logits []float32, k int) []topToken {
	var out []topToken
	for _, r := range engine.TopTokens(logits, k) {
		out = append(out, topToken{ID: r.ID, Token: m.TokenText(int32(r.ID)), Prob: r.Prob, Logit: r.Logit})
	}
	return out
}

// loadImage reads an image (images.Load: a file or FILE.u8:N) and
// preprocesses it for m as `glia serve` and `glia gradcam` do.
func loadImage(m *engine.Model, spec string) (*engine.Array, error) {
	shape, ok := m.ImageShape()
	if !ok {
		return nil, fmt.Errorf("--image: %s reads text, not images (model_type %s)", m.Name, m.Config.String("model_type", "?"))
	}
	raw, err := images.Load(spec)
	if err != nil {
		return nil, err
	}
	pix, err := images.ForModel(m.Name, shape, []*images.Image{raw})
	if err != nil {
		return nil, err
	}
	return &engine.Array{Shape: []int{1, shape[0], shape[1], shape[2]}, Data: pix}, nil
}
