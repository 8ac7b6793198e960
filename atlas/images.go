package atlas

// The image atlas: MILAN's exemplars (Hernandez et al. 2022, after
// NetDissect) for every unit of a vision model's hooks. A unit is a
// channel of a CNN hook [batch, channel, h, w], or a neuron of a ViT hook
// [batch, 1+h·w, d] over the patch grid (position 0, CLS, left out). Per
// unit the atlas keeps the TopK images by spatially max-pooled activation
// with their activation maps, and the unit's 0.99 quantile over every
// spatial activation of the whole image set; the mask of an exemplar is
// where its map, bilinearly upsampled to the image, exceeds that quantile.
// docs/atlas.md ("Image atlases") has the schema.

import (
	"fmt"
	"strings"
	"time"

	"github.com/glia-dev/glia/images"
)

// ImageModel is what the image atlas needs from a vision model; the engine
// adapts to it (internal/cli).
type ImageModel interface {
	Fingerprint() string
	Name() string
	ImageShape() [3]int                          // [channels, height, width] the model reads
	MatchHooks(pattern string) ([]string, error) // glob over hook names
	ImageHook(name string) (ImageHook, error)    // how a hook's values lie over units and the grid
	// ForwardImages runs a batch of preprocessed images (row-major
	// [batch, channels, height, width]) and returns each hook's values,
	// row-major in the hook's layout.
	ForwardImages(pixels []float32, batch int, hooks []string) (map[string][]float32, error)
}

// Layout is how a hook's values per image lie over units and the grid.
type Layout int

const (
	// LayoutChannels is a CNN hook [batch, unit, h, w].
	LayoutChannels Layout = iota
	// LayoutPatches is a ViT hook [batch, 1+h·w, unit...]: position 0 is
	// CLS (left out), then the patches row by row.
	LayoutPatches
	// LayoutVector is [batch, unit]: one value per image (a 1×1 grid).
	LayoutVector
)

var layoutNames = [...]string{"channels", "patches", "vector"}

func (l Layout) String() string {
	if l >= 0 && int(l) < len(layoutNames) {
		return layoutNames[l]
	}
	return fmt.Sprintf("layout(%d)", int(l))
}

// MarshalText names the layout in JSON.
func (l Layout) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a layout name.
func (l *Layout) UnmarshalText(b []byte) error {
	for i, n := range layoutNames {
		if string(b) == n {
			*l = Layout(i)
			return nil
		}
	}
	return fmt.Errorf("unknown hook layout %q", b)
}

// ImageHook is one hook of an image atlas.
type ImageHook struct {
	Name   string `json:"name"`
	Units  int    `json:"units"`
	GridH  int    `json:"grid_h"`
	GridW  int    `json:"grid_w"`
	Layout Layout `json:"layout"`
}

func (h ImageHook) cells() int { return h.GridH * h.GridW }

// UnitMap copies unit u's map over the grid (GridH·GridW values, row-major)
// out of one image's values of the hook (its layout, batch row removed)
// into dst, which it returns.
func (h ImageHook) UnitMap(dst, acts []float32, u int) []float32 {
	c := h.cells()
	switch h.Layout {
	case LayoutChannels:
		copy(dst, acts[u*c:(u+1)*c])
	case LayoutPatches:
		for p := range c {
			dst[p] = acts[(1+p)*h.Units+u]
		}
	default:
		dst[0] = acts[u]
	}
	return dst
}

// ImageHookOf reads a hook's layout from its shape at batch 1. patchRows
// and patchCols are a ViT's patch grid (0 for a CNN).
func ImageHookOf(name string, shape []int, patchRows, patchCols int) (ImageHook, error) {
	prod := func(s []int) int {
		n := 1
		for _, d := range s {
			n *= d
		}
		return n
	}
	h := ImageHook{Name: name}
	switch {
	case len(shape) < 2 || shape[0] != 1:
		return h, fmt.Errorf("atlas: hook %s has shape %v; an image atlas reads [batch, ...] hooks", name, shape)
	case patchRows > 0 && len(shape) >= 3 && shape[1] == 1+patchRows*patchCols:
		h.Units, h.GridH, h.GridW, h.Layout = prod(shape[2:]), patchRows, patchCols, LayoutPatches
	case patchRows > 0 && len(shape) >= 3:
		return h, fmt.Errorf("atlas: hook %s has shape %v: its axis 1 is not the %d positions (CLS and %d×%d patches), so its values do not lie on the patch grid",
			name, shape, 1+patchRows*patchCols, patchRows, patchCols)
	case len(shape) == 4:
		h.Units, h.GridH, h.GridW, h.Layout = shape[1], shape[2], shape[3], LayoutChannels
	case len(shape) == 2:
		h.Units, h.GridH, h.GridW, h.Layout = shape[1], 1, 1, LayoutVector
	default:
		return h, fmt.Errorf("atlas: hook %s has shape %v; an image atlas reads [batch, channel, h, w] or [batch, features] hooks", name, shape)
	}
	if h.Units < 1 || h.GridH < 1 || h.GridW < 1 || h.GridH > 1<<15 || h.GridW > 1<<15 || h.Units > 1<<24 {
		return h, fmt.Errorf("atlas: hook %s has shape %v, out of range", name, shape)
	}
	return h, nil
}

// ImageBuildOptions configure BuildImages.
type ImageBuildOptions struct {
	Out       string
	Images    *images.Set
	Pre       *images.Preprocessor // the model's preprocessing (images.PreprocessorFor)
	Hooks     string               // comma-separated globs; "" picks DefaultImageHooks
	TopK      int                  // exemplars per unit (15, MILAN's)
	Quantile  float64              // the mask threshold's quantile (0.99)
	Threshold float32              // density is also counted above this (0.5, as text atlases)
	Batch     int                  // images per forward pass (32)
	Force     bool                 // replace an existing Out
	Resume    bool                 // continue the checkpoint in Out+".building"
	// CheckpointEvery is the interval between checkpoints (into
	// Out+".building"; 0: after every batch).
	CheckpointEvery time.Duration
	// QuantileBudget bounds the memory of the exact quantile (bytes, all
	// units together); past it the quantile is read off the histogram.
	QuantileBudget int64
	Log            func(format string, args ...any) // notes; nil: none
	OnProgress     func(done, total int)
}

// DefaultImageBuildOptions holds every default.
func DefaultImageBuildOptions() ImageBuildOptions {
	return ImageBuildOptions{Out: "atlas.db", TopK: 15, Quantile: 0.99, Threshold: 0.5, Batch: 32, QuantileBudget: 512 << 20,
		CheckpointEvery: time.Minute}
}

// defaultImageHooks are tried in order when no hooks are named: a ViT's
// MLP outputs, a CNN's layer outputs (those on a grid).
var defaultImageHooks = []string{DefaultHooks, "layers.*.*.hook_out"}

// imageHooks resolves the hook globs. A pattern-less build takes the MLP
// outputs of a patch model and every spatial hook of a CNN.
func imageHooks(m ImageModel, pattern string) ([]ImageHook, error) {
	var pats []string
	if pattern != "" {
		pats = strings.Split(pattern, ",")
	} else {
		for _, p := range defaultImageHooks {
			if _, err := m.MatchHooks(p); err == nil {
				pats = []string{p}
				break
			}
		}
		if pats == nil {
			return nil, fmt.Errorf("atlas: %s has none of the default hooks (%s); name some", m.Name(), strings.Join(defaultImageHooks, ", "))
		}
	}
	var out []ImageHook
	seen := map[string]bool{}
	for _, p := range pats {
		names, err := m.MatchHooks(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			h, err := m.ImageHook(n)
			if err != nil {
				if pattern == "" {
					continue // the default keeps what lies on a grid
				}
				return nil, err
			}
			if pattern == "" && (h.cells() == 1 || strings.HasSuffix(n, "hook_pixels")) {
				continue
			}
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("atlas: no hook of %s matches %q with values on a spatial grid", m.Name(), pattern)
	}
	return out, nil
}
