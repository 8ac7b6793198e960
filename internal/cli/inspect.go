package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
)

func init() {
	Register(&Command{Name: "inspect", Summary: "architecture, parameter count and every hook point with its shape", Run: runInspect})
}

func runInspect(args []string) error {
	fs := newFlags("inspect")
	var mf modelFlags
	mf.register(fs)
	seq := fs.Int("seq", 8, "sequence length to show hook shapes for")
	asJSON := fs.Bool("json", false, "machine-readable output")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	if *seq < 1 {
		return fmt.Errorf("--seq must be at least 1")
	}
	hooks, err := m.Hooks(*seq)
	if err != nil {
		return err
	}
	d := m.Dims()
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{
			"model": m.Name, "model_type": m.Config.String("model_type", ""), "dims": d,
			"parameters": m.NumParams(), "fingerprint": m.Fingerprint(), "hooks": hooks,
		})
	}
	fmt.Fprintf(Stdout, "model        %s\n", m.Name)
	fmt.Fprintf(Stdout, "model_type   %s\n", m.Config.String("model_type", ""))
	fmt.Fprintf(Stdout, "parameters   %d\n", m.NumParams())
	fmt.Fprintf(Stdout, "layers %d  d_model %d  heads %d (kv %d)  d_head %d  d_mlp %d  vocab %d  n_ctx %d\n",
		d.Layers, d.DModel, d.Heads, d.KVHeads, d.DHead, d.DMLP, d.Vocab, d.MaxCtx)
	input := fmt.Sprintf("%d tokens", *seq)
	if img, ok := m.ImageShape(); ok {
		input = fmt.Sprintf("an image of %d×%d×%d", img[0], img[1], img[2])
	}
	fmt.Fprintf(Stdout, "fingerprint  %s\n\nhook points (batch 1, %s):\n", m.Fingerprint(), input)
	tw := tabwriter.NewWriter(Stdout, 2, 4, 2, ' ', 0)
	for _, h := range hooks {
		fmt.Fprintf(tw, "  %s\t%v\n", h.Name, h.Shape)
	}
	return tw.Flush()
}
