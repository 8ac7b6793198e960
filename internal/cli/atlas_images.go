package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/images"
	"github.com/glia-dev/glia/internal/atlasmodel"
	"github.com/glia-dev/glia/internal/progress"
)

// wantsImages reports whether an atlas build names an image set: then it
// builds an image atlas (atlasBuildImages) instead of a text one.
func wantsImages(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == "images" && strings.HasPrefix(a, "-") {
			return true
		}
	}
	return false
}

// atlasBuildImages is glia atlas build --images.
func atlasBuildImages(args []string) error {
	fs := newFlags("atlas build")
	var mf modelFlags
	mf.noSAE = true
	mf.register(fs)
	opt := atlas.DefaultImageBuildOptions()
	var specs stringList
	fs.Var(&specs, "images", "image set: a directory of .png/.jpg files, a file, an IDX file (MNIST), or FILE:N for its first N images (repeatable)")
	fs.StringVar(&opt.Out, "out", opt.Out, "output SQLite database")
	fs.StringVar(&opt.Hooks, "hooks", "", "hook globs, comma-separated (default: a ViT's blocks.*.mlp.hook_post, a CNN's every [batch, channel, h, w] hook)")
	fs.IntVar(&opt.TopK, "top-k", opt.TopK, "exemplars per unit (MILAN: 15)")
	fs.Float64Var(&opt.Quantile, "quantile", opt.Quantile, "the mask threshold: this quantile of the unit's activations over every position of every image")
	fs.IntVar(&opt.Batch, "batch", opt.Batch, "images per forward pass")
	fs.Var((*float32Flag)(&opt.Threshold), "threshold", "activation density is also counted above this value")
	fs.BoolVar(&opt.Force, "force", false, "replace the atlas in --out")
	fs.BoolVar(&opt.Resume, "resume", false, "continue the build checkpointed in OUT.building")
	fs.DurationVar(&opt.CheckpointEvery, "checkpoint-every", opt.CheckpointEvery, "checkpoint interval (into OUT.building)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	specs = append(specs, rest...)
	if len(specs) == 0 {
		return usagef("--images needs a directory, an image file or an IDX file (FILE:N for its first N images)")
	}
	set, err := images.OpenSet(specs...)
	if err != nil {
		return err
	}
	defer set.Close()
	em, err := mf.load()
	if err != nil {
		return err
	}
	m, err := atlasmodel.NewImages(em)
	if err != nil {
		return err
	}
	shape := m.ImageShape()
	if opt.Pre, err = images.PreprocessorFor(em.Name, shape[1], shape[2]); err != nil {
		return err
	}
	opt.Images = set
	var bar *progress.Bar
	if !*asJSON {
		bar = newBuildBar(Stderr, int64(set.Len()), "images")
		opt.OnProgress = func(done, _ int) { bar.Set(int64(done), 0) }
		opt.Log = func(format string, a ...any) { bar.Clear(); fmt.Fprintf(Stderr, format+"\n", a...) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := atlas.BuildImages(ctx, m, opt)
	bar.Done()
	if err != nil {
		var ee *atlas.ExistsError
		if errors.As(err, &ee) && ee.NotAtlas == nil {
			return fmt.Errorf("%w; pass --force to replace it, or choose another --out", err)
		}
		var oe *atlas.OptionError
		if errors.As(err, &oe) {
			return fmt.Errorf("--%s: %w", map[string]string{"TopK": "top-k", "Quantile": "quantile", "Batch": "batch", "Images": "images"}[oe.Option], err)
		}
		return err
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(map[string]any{"out": opt.Out, "model": em.Name, "units": res.Units, "images": res.Images,
			"hooks": res.Hooks, "quantile_method": res.QuantileMethod, "resumed": res.Resumed, "seconds": res.Elapsed.Seconds(), "forward_seconds": res.ForwardTime.Seconds()})
	}
	resumed := ""
	if res.Resumed > 0 {
		resumed = fmt.Sprintf(", resumed after image %d", res.Resumed)
	}
	fmt.Fprintf(Stdout, "wrote %s: %d units of %s over %d images in %s (forward %.1fs; quantile %s%s)\n",
		opt.Out, res.Units, em.Name, res.Images, progress.Duration(res.Elapsed), res.ForwardTime.Seconds(), res.QuantileMethod, resumed)
	h := res.Hooks[0]
	fmt.Fprintf(Stdout, "next: glia atlas show --db %s %s:0\n      glia serve --db %s   (exemplars with their masks)\n", opt.Out, h.Name, opt.Out)
	return nil
}

// showImageUnit prints one unit of an image atlas (glia atlas show).
func showImageUnit(a *atlas.Atlas, hook string, unit int, gap, asJSON bool, top int) error {
	r, err := a.ImageUnit(hook, unit)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(Stdout).Encode(r)
	}
	if gap {
		fmt.Fprintln(Stdout)
	}
	return atlas.RenderImageUnit(Stdout, r, top, func(id int) ([]byte, int, int, int, error) {
		px, c, h, w, _, err := a.ImagePixels(id)
		return px, c, h, w, err
	})
}

// refuseImageMerge refuses image atlases, which glia atlas merge does not
// combine (their exemplars and exact quantiles do not add up from parts).
func refuseImageMerge(paths []string) error {
	for _, p := range paths {
		a, err := atlas.OpenReadOnly(p)
		if err != nil {
			continue // atlas.Merge reports it
		}
		info, err := a.ImageInfo()
		a.Close()
		if err == nil && info != nil {
			return fmt.Errorf("%s is an image atlas; image atlases are not merged (build one over the whole image set)", p)
		}
	}
	return nil
}

// exportAtlas exports a text or an image atlas.
func exportAtlas(a *atlas.Atlas, w io.Writer, format string) error {
	info, err := a.ImageInfo()
	if err != nil {
		return err
	}
	if info != nil {
		return exportImages(a, w, format)
	}
	return atlas.Export(a, w, format)
}

// exportImages is glia atlas export of an image atlas: jsonl is one
// atlas.ImageUnitReport per line; csv is the text atlas' (statistics).
func exportImages(a *atlas.Atlas, w io.Writer, format string) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		for _, h := range a.Meta.Settings.Hooks {
			for u := range h.Width {
				r, err := a.ImageUnit(h.Name, u)
				if err != nil {
					return err
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
		return nil
	case "csv":
		return atlas.Export(a, w, format)
	}
	return fmt.Errorf("atlas export: an image atlas exports as jsonl or csv, not %q", format)
}
