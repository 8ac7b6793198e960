// Package arch defines what a model family is: its dimensions, the weights it
// reads, and a forward pass written against GoMLX graph nodes with
// TransformerLens-named hook points. Families live in sub-packages, one per
// architecture, and register themselves by Hugging Face model_type.
package arch

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/glia-dev/glia/hook"
	. "github.com/gomlx/gomlx/core/graph"
)

// Dims are the sizes every family shares; interpretability code (atlas,
// interventions, inspect) works from these alone.
type Dims struct {
	Layers  int // n_layers
	DModel  int // d_model
	Heads   int // n_heads (query heads)
	KVHeads int // n_key_value_heads
	DHead   int // d_head
	DMLP    int // d_mlp: width of blocks.{l}.mlp.hook_post
	Vocab   int // d_vocab
	MaxCtx  int // n_ctx: longest sequence the position scheme supports
}

// WeightSpec names one tensor the family reads, under its Hugging Face name,
// with the shape the family requires.
type WeightSpec struct {
	Name  string
	Shape []int
	Alt   []string // other names exporters use for the same tensor
}

// Inputs are the graph inputs of a forward pass.
type Inputs struct {
	IDs  *Node // [batch, pos] int32 token ids (nil for image families)
	Pos  *Node // [batch, pos] int32 position ids (they follow the attention mask)
	Mask *Node // [batch, pos] bool: true for real tokens, false for padding

	// Cache, when set, makes the pass incremental (generation with a KV
	// cache): IDs and Pos hold only the new tokens, which sit at positions
	// [Cache.Len, Cache.Len+pos) of unpadded sequences (Mask is ignored).
	Cache *KVCache

	// AttnChunk is the query count above which attention runs in chunks
	// of it (0: never) when neither hook_attn_scores nor hook_pattern is
	// read: a 4096-token GPT-2 forward otherwise holds three
	// [1, 12, 4096, 4096] float32 tensors per layer (2.4 GB). The engine
	// chooses it for its backend.
	AttnChunk int

	// Unpadded says every sequence is real tokens at positions 0..pos-1
	// (Mask all true, Pos an iota), as in training: attention may then run
	// as one op where the backend has glia's (kernels.Available) and no
	// scores or pattern hook is read.
	Unpadded bool

	// Pixels are the input of image families (ImageFamily), instead of
	// IDs, Pos and Mask: [batch, channels, height, width] in the compute
	// dtype, already preprocessed (package images).
	Pixels *Node
}

// KVCache holds every layer's keys (after rotary) and values, slot i for
// position i. Attention writes the new tokens' keys and values into K[l]
// and V[l] (replacing the nodes with the updated cache, which the caller
// returns from the graph) and attends over all slots up to each query's
// position.
type KVCache struct {
	K, V []*Node // per layer, [batch, capacity, kv_heads, d_head]
	Len  *Node   // int32 scalar: positions already in the cache
}

// Weights looks a weight up by its Hugging Face name; it panics (inside graph
// building, where the engine recovers) on a name the family did not declare.
type Weights func(name string) *Node

// Family is one model architecture, configured for one checkpoint.
type Family interface {
	Dims() Dims
	// Weights lists every tensor Forward reads.
	Weights() []WeightSpec
	// Forward builds logits [batch, pos, vocab], routing every intermediate
	// through hp.At with its TransformerLens name.
	Forward(w Weights, in Inputs, hp *hook.Points) *Node
}

// ImageFamily is implemented by families that read images instead of token
// ids. Their Forward takes Inputs.Pixels and returns logits
// [batch, 1, num_labels]: one "position", so that everything addressed by
// (batch, pos, token) (gradient targets, top-k, probabilities) works on
// class scores unchanged. Their Dims.Vocab is the number of classes.
type ImageFamily interface {
	Family
	// ImageShape is the input [channels, height, width] the weights fix.
	ImageShape() [3]int
}

// PatchFamily is implemented by image families whose sequence positions
// are a CLS token followed by image patches in row-major order (ViT):
// Grad-CAM and other spatial readers drop position 0 and reshape the rest
// to the grid.
type PatchFamily interface {
	ImageFamily
	PatchGrid() (rows, cols int)
}

// NumLabels is an image classifier's class count: num_labels, else the
// size of id2label (transformers writes only the latter).
func NumLabels(c *Config) int {
	if c.Has("num_labels") {
		return c.Require("num_labels")
	}
	if m, ok := c.Raw("id2label").(map[string]any); ok && len(m) > 0 {
		return len(m)
	}
	c.fail("config has neither num_labels nor id2label: the number of classes is unknown")
	return 0
}

// TensorFilter is implemented by families whose checkpoints carry tensors
// they deliberately do not read (buffers such as GPT-2's attn.bias mask).
// Any other unread tensor is an error: a loader that skips weights hides bugs.
type TensorFilter interface {
	Unused(name string) bool
}

// Constructor builds a family from a checkpoint's config.json.
type Constructor func(c *Config) (Family, error)

var (
	mu       sync.Mutex
	registry = map[string]Constructor{}
)

// Register makes a family available under a Hugging Face model_type.
func Register(modelType string, c Constructor) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[modelType]; dup {
		panic("arch: family registered twice: " + modelType)
	}
	registry[modelType] = c
}

// Supported lists the registered model types.
func Supported() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the family named by the config's model_type.
func New(c *Config) (Family, error) {
	mt := c.String("model_type", "")
	if mt == "" {
		return nil, fmt.Errorf("arch: %s: no model_type", c.Source)
	}
	mu.Lock()
	ctor, ok := registry[mt]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("arch: %s: unsupported model_type %q (supported: %s)", c.Source, mt, strings.Join(Supported(), ", "))
	}
	// Sizes are checked before the constructor allocates from them, and what
	// it derived before the engine lists the weights.
	if err := c.check(); err != nil {
		return nil, err
	}
	f, err := ctor(c)
	if err == nil {
		err = c.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("arch: %s (%s): %w", c.Source, mt, err)
	}
	if err := c.checkDims(f.Dims()); err != nil {
		return nil, err
	}
	return f, nil
}
