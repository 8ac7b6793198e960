package atlas

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/glia-dev/glia/images"
)

// ImageBuildResult summarises BuildImages.
type ImageBuildResult struct {
	Units          int
	Images         int
	Hooks          []ImageHook
	QuantileMethod string // "exact" or "histogram"
	Resumed        int    // images done by the checkpoint resumed from (0: a new build)
	Elapsed        time.Duration
	ForwardTime    time.Duration
}

// Quantile methods (meta quantile_method).
const (
	QuantileExact     = "exact"
	QuantileHistogram = "histogram"
)

func (o *ImageBuildOptions) check() error {
	switch {
	case o.Images == nil || o.Images.Len() == 0:
		return &OptionError{Option: "Images", Value: 0, Reason: "is empty: give at least one image"}
	case o.Pre == nil:
		return &OptionError{Option: "Pre", Value: nil, Reason: "is missing: give the model's preprocessor"}
	case o.TopK < 1 || o.TopK > math.MaxUint16:
		return &OptionError{Option: "TopK", Value: o.TopK, Reason: fmt.Sprintf("is outside 1..%d", math.MaxUint16)}
	case !(o.Quantile > 0 && o.Quantile < 1):
		return &OptionError{Option: "Quantile", Value: o.Quantile, Reason: "is outside (0, 1)"}
	case o.Batch < 1 || o.Batch > 4096:
		return &OptionError{Option: "Batch", Value: o.Batch, Reason: "is outside 1..4096"}
	case o.Images.Len() > math.MaxUint32:
		return &OptionError{Option: "Images", Value: o.Images.Len(), Reason: "holds more images than an atlas numbers (2^32)"}
	}
	return nil
}

// checkImageOut refuses an existing output unless Force, and never
// replaces a file that is not an atlas.
func checkImageOut(path string, force bool) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Size() == 0 && !st.IsDir() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("atlas: %w", err)
	}
	if st.IsDir() {
		return &ExistsError{Path: path, NotAtlas: errors.New("a directory")}
	}
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro&_pragma=busy_timeout(10000)"))
	if err != nil {
		return fmt.Errorf("atlas: opening %s: %w", path, err)
	}
	defer db.Close()
	m, err := readMeta(db)
	if err != nil {
		return &ExistsError{Path: path, NotAtlas: err}
	}
	if !force {
		return &ExistsError{Path: path, Complete: m.Status == StatusComplete,
			Differs: errors.New("an image atlas is not resumed or compared: it is rebuilt, and only when told to")}
	}
	return nil
}

// BuildImages builds an image atlas into opt.Out. It is written into a
// temporary file beside Out and renamed over it once complete, so an error
// or an interruption leaves Out as it was; it is not resumable (image sets
// this size take seconds to minutes).
func BuildImages(ctx context.Context, m ImageModel, opt ImageBuildOptions) (*ImageBuildResult, error) {
	start := time.Now()
	if err := opt.check(); err != nil {
		return nil, err
	}
	hooks, err := imageHooks(m, opt.Hooks)
	if err != nil {
		return nil, err
	}
	if err := checkImageOut(opt.Out, opt.Force); err != nil {
		return nil, err
	}
	n := opt.Images.Len()
	res := &ImageBuildResult{Images: n, Hooks: hooks, QuantileMethod: QuantileExact}
	// The exact quantile keeps the largest k values of each unit.
	var need int64
	for _, h := range hooks {
		k, _ := quantileKeep(int64(n)*int64(h.cells()), opt.Quantile)
		need += 4 * k * int64(h.Units)
		res.Units += h.Units
	}
	if need > opt.QuantileBudget {
		res.QuantileMethod = QuantileHistogram
		if opt.Log != nil {
			opt.Log("note: the exact %g quantile needs %d MiB (QuantileBudget %d MiB); it is read off each unit's histogram instead (error at most one bin's width, stored per unit)",
				opt.Quantile, need>>20, opt.QuantileBudget>>20)
		}
	}
	states := make([]*imgHookState, len(hooks))
	for i, h := range hooks {
		var k int64
		k, frac := quantileKeep(int64(n)*int64(h.cells()), opt.Quantile)
		if res.QuantileMethod != QuantileExact {
			k = 0
		}
		states[i] = newImgHookState(h, opt.TopK, k, frac)
	}
	b := newImageBuild(m, &opt, states, res.QuantileMethod)
	first, err := b.open(opt.Resume)
	if err != nil {
		return nil, err
	}
	defer b.close()
	res.Resumed = first
	shape := m.ImageShape()
	plane := shape[0] * shape[1] * shape[2]
	pix := make([]float32, 0, opt.Batch*plane)
	last := time.Now()
	for lo := first; lo < n; lo += opt.Batch {
		if err := ctx.Err(); err != nil {
			if lo > b.saved {
				if cerr := b.checkpoint(lo); cerr != nil {
					return nil, fmt.Errorf("atlas: interrupted after %d of %d images, and the checkpoint failed: %v (%w)", lo, n, cerr, err)
				}
			}
			return nil, b.failed(fmt.Errorf("atlas: interrupted after %d of %d images; %s is unchanged (an image atlas replaces it only when complete): %w", lo, n, opt.Out, err))
		}
		hi := min(lo+opt.Batch, n)
		if err := b.batch(lo, hi, pix[:0], res); err != nil {
			return nil, b.failed(err)
		}
		if opt.OnProgress != nil {
			opt.OnProgress(hi, n)
		}
		if hi < n && time.Since(last) >= opt.CheckpointEvery {
			if err := b.checkpoint(hi); err != nil {
				return nil, b.failed(err)
			}
			last = time.Now()
		}
	}
	if err := b.finish(); err != nil {
		return nil, b.failed(err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// batch runs images [lo, hi) and adds them to the state.
func (b *imageBuild) batch(lo, hi int, pix []float32, res *ImageBuildResult) error {
	shape, set := b.info.Shape, b.opt.Images
	for i := lo; i < hi; i++ {
		im, err := set.Image(i)
		if err != nil {
			return err
		}
		in, err := b.opt.Pre.Apply(im, shape[0])
		if err != nil {
			return fmt.Errorf("atlas: image %s: %w", set.Name(i), err)
		}
		if in.C != shape[0] || in.H != shape[1] || in.W != shape[2] {
			return fmt.Errorf("atlas: image %s preprocesses to %d×%d×%d; %s reads %v", set.Name(i), in.C, in.H, in.W, b.m.Name(), shape)
		}
		pix = append(pix, in.Pix...)
	}
	t0 := time.Now()
	acts, err := b.m.ForwardImages(pix, hi-lo, b.hookNames())
	res.ForwardTime += time.Since(t0)
	if err != nil {
		return fmt.Errorf("atlas: images %d..%d: %w", lo, hi-1, err)
	}
	for _, s := range b.states {
		a, per := acts[s.h.Name], s.perImage()
		if len(a) != (hi-lo)*per {
			return fmt.Errorf("atlas: hook %s gave %d values for %d images; its layout (%s, %d units, %d×%d) needs %d",
				s.h.Name, len(a), hi-lo, s.h.Layout, s.h.Units, s.h.GridH, s.h.GridW, (hi-lo)*per)
		}
		for i := range hi - lo {
			s.update(uint32(lo+i), a[i*per:(i+1)*per], b.opt.Threshold)
		}
	}
	return nil
}

func (b *imageBuild) hookNames() []string {
	names := make([]string, len(b.states))
	for i, s := range b.states {
		names[i] = s.h.Name
	}
	return names
}

// displayPixels is an image as the atlas stores it: the model's channels
// and resolution, before rescaling, rounded to bytes, planar [c, h, w].
func displayPixels(im *images.Image, pre *images.Preprocessor, shape [3]int) ([]byte, error) {
	im, err := images.Channels(im, shape[0])
	if err != nil {
		return nil, err
	}
	if im.H != shape[1] || im.W != shape[2] {
		im = images.Resize(im, shape[1], shape[2], pre.Resample)
	}
	out := make([]byte, len(im.Pix))
	for i, v := range im.Pix {
		out[i] = byte(math.Round(min(max(float64(v), 0), 255)))
	}
	return out, nil
}
