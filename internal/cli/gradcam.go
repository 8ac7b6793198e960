package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/format/safetensors"
	"github.com/glia-dev/glia/gradcam"
	"github.com/glia-dev/glia/images"
)

func init() {
	Register(&Command{Name: "gradcam", Summary: "Grad-CAM heat map of an image model's class evidence at a hook, as a PNG overlay and arrays", Run: runGradCAM,
		Help: `--image is a PNG or JPEG file, or FILE.u8:N for image N of an IDX file (MNIST).
It is preprocessed as the model directory's preprocessor_config.json says
(else resized to the model's input and scaled to [0, 1]). The map is
pytorch-grad-cam's GradCAM; a ViT hook drops CLS and is reshaped to the
patch grid. docs/vision.md has the details.`})
}

func runGradCAM(args []string) error {
	fs := newFlags("gradcam")
	var mf modelFlags
	mf.register(fs)
	imagePath := fs.String("image", "", "the image: a .png/.jpg file, or FILE.u8:N (image N of an IDX file)")
	class := fs.Int("class", -1, "the class to explain (default: the model's top class)")
	methodName := fs.String("method", "gradcam", "gradcam (gradients averaged per channel) or hirescam (gradient × activation per position)")
	hook := fs.String("hook", "", "hook point (default: a ViT's last ln1, else the last hook with a spatial grid)")
	out := fs.String("out", "", "write the overlay to this PNG")
	save := fs.String("save", "", "write heat [H, W], cam [grid h, grid w] and weights [channels] to this .safetensors file")
	alpha := fs.Float64("alpha", 0.5, "the image's weight in the overlay (pytorch-grad-cam's image_weight)")
	scale := fs.Int("scale", 8, "overlay pixels per input pixel")
	box := fs.String("box", "", "x0,y0,x1,y1: report the fraction of the map's mass in this box of input pixels")
	mark := fs.String("mark", "", "x0,y0,x1,y1: stamp a square of full ink (255) on the image first, as the shortcut models' mark (--box defaults to it)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *imagePath == "" {
		return usagef("missing --image: a .png/.jpg file or FILE.u8:N")
	}
	method, err := gradcam.ParseMethod(*methodName)
	if err != nil {
		return usagef("--method: %v", err)
	}
	var b, mk *gradcam.Box
	if *mark != "" {
		v, err := parseBox(*mark)
		if err != nil {
			return usagef("--mark %q: %v", *mark, err)
		}
		mk = &v
		if *box == "" {
			*box = *mark
		}
	}
	if *box != "" {
		v, err := parseBox(*box)
		if err != nil {
			return usagef("--box %q: %v", *box, err)
		}
		b = &v
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	shape, ok := m.ImageShape()
	if !ok {
		return fmt.Errorf("%s is not an image model (model_type %s)", m.Name, m.Config.String("model_type", "?"))
	}
	raw, err := images.Load(*imagePath)
	if err != nil {
		return err
	}
	if mk != nil {
		raw.Stamp(mk.X0, mk.Y0, mk.X1, mk.Y1, 255)
	}
	pix, err := images.ForModel(m.Name, shape, []*images.Image{raw})
	if err != nil {
		return err
	}
	r, err := gradcam.ComputeWith(m, engine.Array{Shape: []int{1, shape[0], shape[1], shape[2]}, Data: pix}, *class, *hook, method)
	if err != nil {
		return err
	}
	if *out != "" {
		ov, err := r.Overlay(raw, *alpha, *scale)
		if err != nil {
			return err
		}
		if err := gradcam.WritePNG(*out, ov); err != nil {
			return err
		}
	}
	if *save != "" {
		err := safetensors.Write(*save, []safetensors.Tensor{
			{Name: "heat", Shape: []int{r.H, r.W}, Data: r.Heat},
			{Name: "cam", Shape: []int{r.GridH, r.GridW}, Data: r.Cam},
			{Name: "weights", Shape: []int{len(r.Weights)}, Data: r.Weights},
		}, map[string]string{"hook": r.Hook, "class": strconv.Itoa(r.Class), "image": *imagePath, "model": m.Name})
		if err != nil {
			return err
		}
	}
	mass := -1.0
	if b != nil {
		mass = r.MassIn(*b)
	}
	if *asJSON {
		o := map[string]any{"model": m.Name, "image": *imagePath, "method": r.Method.String(), "hook": r.Hook, "class": r.Class, "logit": r.Logit,
			"patches": r.Patches, "grid": []int{r.GridH, r.GridW}, "cam": r.Cam}
		if b != nil {
			o["mass_in_box"] = mass
		}
		return json.NewEncoder(Stdout).Encode(o)
	}
	kind := "channels × grid"
	if r.Patches {
		kind = "patches (CLS dropped) reshaped to the grid"
	}
	fmt.Fprintf(Stdout, "%s: class %d (logit %.4g) at %s: %d channels, %d×%d %s\n", r.Method, r.Class, r.Logit, r.Hook, len(r.Weights), r.GridH, r.GridW, kind)
	if b != nil {
		fmt.Fprintf(Stdout, "mass in box %s: %.3f\n", *box, mass)
	}
	if *out != "" {
		fmt.Fprintf(Stdout, "overlay: %s\n", *out)
	}
	return nil
}

// parseBox reads "x0,y0,x1,y1".
func parseBox(s string) (gradcam.Box, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return gradcam.Box{}, fmt.Errorf("want four numbers x0,y0,x1,y1")
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return gradcam.Box{}, fmt.Errorf("%q is not an integer", p)
		}
		v[i] = n
	}
	if v[2] <= v[0] || v[3] <= v[1] {
		return gradcam.Box{}, fmt.Errorf("empty box")
	}
	return gradcam.Box{X0: v[0], Y0: v[1], X1: v[2], Y1: v[3]}, nil
}
