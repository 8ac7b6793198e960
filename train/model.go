// Package train trains glia's model families from scratch: one compiled
// graph per step (forward pass, mean cross-entropy, its gradient with respect
// to every weight, global-norm clipping and AdamW), built tasks with known
// answers (induction, modular addition) and text corpora, atomic
// checkpoints that resume bit-identically, and the Hugging Face directory
// that engine.Load reads back.
//
// The forward pass is the engine's (engine.Model.Forward), so a trained
// model runs exactly as it trained: there is no second implementation of any
// family here.
package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/engine"
)

// Spec is a model to train, in the terms every family shares.
type Spec struct {
	Family   string // "gpt2" or "llama"
	Layers   int
	DModel   int
	Heads    int
	DMLP     int  // 0: 4·DModel
	Ctx      int  // longest sequence (position table size for gpt2)
	Vocab    int  // token ids [0, Vocab)
	AttnOnly bool // no MLP blocks (the glia config key "attn_only")
	BOS, EOS int  // special token ids written to config.json; -1: none
}

// Families lists the families Spec can describe.
var Families = []string{"gpt2", "llama"}

// Config is the Hugging Face config.json for s: what transformers reads
// (model_type, architectures, sizes, tie_word_embeddings) and what glia's
// family packages read.
func (s Spec) Config() (map[string]any, error) {
	if !slices.Contains(Families, s.Family) {
		return nil, fmt.Errorf("train: unknown family %q (want %s)", s.Family, strings.Join(Families, " or "))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"layers", s.Layers}, {"d_model", s.DModel}, {"heads", s.Heads}, {"ctx", s.Ctx}, {"vocab", s.Vocab}} {
		if f.v <= 0 {
			return nil, fmt.Errorf("train: %s must be positive, got %d", f.name, f.v)
		}
	}
	if s.DModel%s.Heads != 0 {
		return nil, fmt.Errorf("train: d_model %d is not divisible by heads %d", s.DModel, s.Heads)
	}
	if s.DMLP < 0 {
		return nil, fmt.Errorf("train: d_mlp must not be negative, got %d", s.DMLP)
	}
	dmlp := s.DMLP
	if dmlp == 0 {
		dmlp = 4 * s.DModel
	}
	special := func(id int) any {
		if id < 0 {
			return nil // transformers' own defaults (GPT-2's 50256) would be outside a small vocabulary
		}
		return id
	}
	c := map[string]any{"torch_dtype": "float32", "bos_token_id": special(s.BOS), "eos_token_id": special(s.EOS)}
	switch s.Family {
	case "gpt2":
		maps(c, map[string]any{
			"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"},
			"n_layer": s.Layers, "n_embd": s.DModel, "n_head": s.Heads, "n_inner": dmlp,
			"n_positions": s.Ctx, "n_ctx": s.Ctx, "vocab_size": s.Vocab,
			"activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": true,
			"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
		})
		if s.AttnOnly {
			c["attn_only"] = true
		}
	case "llama":
		maps(c, map[string]any{
			"model_type": "llama", "architectures": []string{"LlamaForCausalLM"},
			"num_hidden_layers": s.Layers, "hidden_size": s.DModel, "num_attention_heads": s.Heads,
			"num_key_value_heads": s.Heads, "intermediate_size": dmlp, "max_position_embeddings": s.Ctx,
			"vocab_size": s.Vocab, "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
			"tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false,
		})
		if s.AttnOnly {
			c["attn_only"] = true
		}
	}
	return c, nil
}

func maps(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}

// ReadConfig reads a Hugging Face config.json to train from.
func ReadConfig(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return c, nil
}

// NewModel builds a freshly initialised model of the family config
// describes (see initSource), seeded.
func NewModel(name string, config map[string]any, seed uint64) (*engine.Model, error) {
	cfg := arch.NewConfig(name, config)
	fam, err := arch.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	src, err := engine.NewRandomSource(cfg, seed)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// Convolutional networks start from He's N(0, 2/fan_in) (they have no
	// norms to keep N(0, 0.02²) activations from vanishing).
	he := cfg.String("model_type", "") == "cnn"
	return engine.FromSource(name, cfg, initSource{src, fam.Dims().Layers, he})
}

// initSource is GPT-2's initialisation: engine.RandomSource's N(0, 0.02²)
// matrices, unit norm gains and zero biases (each tensor from its own
// stream (seed, name), whatever the order they are read in), with the
// projections that write into the residual stream (attention output, MLP
// output) scaled by 1/√(2·layers).
type initSource struct {
	*engine.RandomSource
	layers int
	he     bool // every matrix and kernel N(0, 2/fan_in) instead
}

// residualOut are the weights that write into the residual stream.
var residualOut = []string{"attn.c_proj.weight", "mlp.c_proj.weight", "self_attn.o_proj.weight", "mlp.down_proj.weight"}

func (s initSource) Float32(name string) ([]float32, error) {
	data, err := s.RandomSource.Float32(name)
	if err != nil {
		return nil, err
	}
	if shape, _ := s.Shape(name); s.he && len(shape) >= 2 {
		fanIn := 1
		for _, d := range shape[1:] {
			fanIn *= d
		}
		scale := float32(math.Sqrt(2/float64(fanIn)) / 0.02)
		for i := range data {
			data[i] *= scale
		}
		return data, nil
	}
	for _, r := range residualOut {
		if strings.HasSuffix(name, r) {
			scale := float32(1 / math.Sqrt(2*float64(max(s.layers, 1))))
			for i := range data {
				data[i] *= scale
			}
		}
	}
	return data, nil
}
