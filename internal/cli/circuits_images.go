package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/images"
	"github.com/glia-dev/glia/neuronpath"
)

// imagePathFlags are glia circuits path's flags for image models.
type imagePathFlags struct {
	image, set, labels string
	class, perClass, n int
	random             bool
	seed               uint64
}

func (f *imagePathFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.image, "image", "", "image models: one image, a .png/.jpg file or FILE.u8:N (image N of an IDX file such as MNIST's)")
	fs.StringVar(&f.set, "images", "", "image models: a set to compare the paths over, an IDX file (FILE.u8) or a directory of .png/.jpg files")
	fs.StringVar(&f.labels, "labels", "", "with --images FILE.u8: its IDX labels (default FILE-labels.u8 when it exists); each image is run for its label")
	fs.IntVar(&f.class, "class", -1, "image models: the target class (default: the image's label with --images, else the model's top class)")
	fs.IntVar(&f.perClass, "per-class", 0, "with --images and labels: the first K images of each class")
	fs.IntVar(&f.n, "n", 0, "with --images: the first N images (0: all; with --per-class, at most N in all)")
	fs.BoolVar(&f.random, "random", false, "add a baseline path of one uniformly random neuron per layer")
	fs.Uint64Var(&f.seed, "seed", 1, "with --random: the seed (image or prompt i of a set uses seed+i)")
}

// pathImage is one image of a search: its name, pixels and label (−1: none).
type pathImage struct {
	name   string
	pixels engine.Array
	label  int
}

// pathImageResult is one image's search.
type pathImageResult struct {
	Image string `json:"image"`
	Label *int   `json:"label,omitempty"`
	Top   int    `json:"top_class"`
	*neuronpath.Result
}

// pathImageSummary compares the paths over an image set, in all and per
// target class.
type pathImageSummary struct {
	Model    string                     `json:"model"`
	Images   int                        `json:"images"`
	Steps    int                        `json:"steps"`
	Form     neuronpath.Form            `json:"form"`
	Pos      int                        `json:"pos"`
	Prob     float64                    `json:"mean_prob"`
	OffProb  float64                    `json:"mean_prob_all_off"`
	Accuracy *float64                   `json:"accuracy,omitempty"` // top class = label, with labels
	Methods  []neuronpath.MethodSummary `json:"methods"`
	Classes  []pathClassSummary         `json:"classes"`
	Results  []pathImageResult          `json:"results"`
	Seconds  float64                    `json:"seconds"`
}

type pathClassSummary struct {
	Class   int                        `json:"class"`
	Images  int                        `json:"images"`
	Prob    float64                    `json:"mean_prob"`
	Methods []neuronpath.MethodSummary `json:"methods"`
}

func (f *imagePathFlags) run(mf modelFlags, o neuronpath.Options, asJSON bool) error {
	if f.set == "" && (f.labels != "" || f.perClass != 0 || f.n != 0) {
		return usagef("--labels, --per-class and --n go with --images")
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	if _, ok := m.ImageShape(); !ok {
		return fmt.Errorf("%s reads text, not images: give --prompt, --ids or --prompts", m.Name)
	}
	if f.class >= m.Dims().Vocab {
		return fmt.Errorf("--class %d: %s has %d classes", f.class, m.Name, m.Dims().Vocab)
	}
	ims, err := f.load(m)
	if err != nil {
		return err
	}
	var sum pathImageSummary
	for i, im := range ims {
		top, err := topClass(m, im.pixels)
		if err != nil {
			return fmt.Errorf("%s: %w", im.name, err)
		}
		class := top
		switch {
		case f.class >= 0:
			class = f.class
		case im.label >= 0:
			class = im.label
		}
		oi := o
		oi.Seed += uint64(i)
		r, err := neuronpath.FindImage(m, im.pixels, int32(class), oi)
		if err != nil {
			return fmt.Errorf("%s: %w", im.name, err)
		}
		res := pathImageResult{Image: im.name, Top: top, Result: r}
		if im.label >= 0 {
			res.Label = &im.label
		}
		sum.Results = append(sum.Results, res)
		sum.Seconds += r.Seconds
	}
	if f.image != "" {
		return printImagePath(m, sum.Results[0], asJSON)
	}
	if err := sum.summarise(m); err != nil {
		return err
	}
	if asJSON {
		return printJSON(sum)
	}
	sum.print()
	return nil
}

// load reads and preprocesses --image or --images.
func (f *imagePathFlags) load(m *engine.Model) ([]pathImage, error) {
	shape, _ := m.ImageShape()
	pre, err := images.PreprocessorFor(m.Name, shape[1], shape[2])
	if err != nil {
		return nil, err
	}
	var raws []*images.Image
	var names []string
	var labels []int
	switch st, statErr := os.Stat(f.set); {
	case f.image != "":
		im, err := images.Load(f.image)
		if err != nil {
			return nil, err
		}
		raws, names = []*images.Image{im}, []string{f.image}
	case statErr == nil && st.IsDir():
		if f.perClass > 0 {
			return nil, usagef("--per-class needs labels: --images FILE.u8 with its label file")
		}
		files, err := images.List(f.set)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			if f.n > 0 && len(raws) == f.n {
				break
			}
			im, err := images.Read(file)
			if err != nil {
				return nil, err
			}
			raws, names = append(raws, im), append(names, file)
		}
	default:
		labelFile := f.labels
		if labelFile == "" {
			if guess := strings.TrimSuffix(f.set, ".u8") + "-labels.u8"; fileExists(guess) {
				labelFile = guess
			}
		}
		if labelFile == "" {
			if f.perClass > 0 {
				return nil, usagef("--per-class needs labels: give --labels FILE.u8")
			}
			if raws, err = readIDX(f.set, f.n); err != nil {
				return nil, err
			}
		} else if raws, labels, err = images.ReadMNIST(f.set, labelFile, 0); err != nil {
			return nil, err
		}
		for i := range raws {
			names = append(names, fmt.Sprintf("%s:%d", f.set, i))
		}
	}
	var out []pathImage
	count := map[int]int{}
	for i, raw := range raws {
		label := -1
		if labels != nil {
			label = labels[i]
			if f.perClass > 0 && count[label] >= f.perClass {
				continue
			}
			count[label]++
		}
		if f.n > 0 && len(out) == f.n {
			break
		}
		p, err := pre.Apply(raw, shape[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		out = append(out, pathImage{name: names[i], label: label,
			pixels: engine.Array{Shape: []int{1, shape[0], shape[1], shape[2]}, Data: p.Pix}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no images", f.set)
	}
	return out, nil
}

// readIDX reads the first n images (0: all) of an IDX file.
func readIDX(path string, n int) ([]*images.Image, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	return images.DecodeIDX(path, file, st.Size(), n)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// topClass is the model's most likely class for one image.
func topClass(m *engine.Model, pixels engine.Array) (int, error) {
	r, err := m.Run(engine.Request{Pixels: &pixels})
	if err != nil {
		return 0, err
	}
	return engine.TopTokens(r.Logits.Data, 1)[0].ID, nil
}

func (s *pathImageSummary) summarise(m *engine.Model) error {
	rs := make([]*neuronpath.Result, len(s.Results))
	byClass := map[int][]*neuronpath.Result{}
	correct, labelled := 0, 0
	n := float64(len(rs))
	for i, r := range s.Results {
		rs[i] = r.Result
		byClass[int(r.Token)] = append(byClass[int(r.Token)], r.Result)
		s.Prob += r.Prob / n
		s.OffProb += r.OffProb / n
		if r.Label != nil {
			labelled++
			if *r.Label == r.Top {
				correct++
			}
		}
	}
	if labelled > 0 {
		acc := float64(correct) / float64(labelled)
		s.Accuracy = &acc
	}
	s.Model, s.Images, s.Steps, s.Form, s.Pos = m.Name, len(rs), rs[0].Steps, rs[0].Form, rs[0].Pos
	var err error
	if s.Methods, err = neuronpath.Summarise(rs); err != nil {
		return err
	}
	for c := range m.Dims().Vocab {
		cr := byClass[c]
		if len(cr) == 0 {
			continue
		}
		cs := pathClassSummary{Class: c, Images: len(cr)}
		for _, r := range cr {
			cs.Prob += r.Prob / float64(len(cr))
		}
		if cs.Methods, err = neuronpath.Summarise(cr); err != nil {
			return err
		}
		s.Classes = append(s.Classes, cs)
	}
	return nil
}

func (s *pathImageSummary) print() {
	acc := ""
	if s.Accuracy != nil {
		acc = fmt.Sprintf(", top class = label on %.1f%%", 100**s.Accuracy)
	}
	fmt.Fprintf(Stdout, "%s: %d images, each for its target class; mean probability %.4g (%.4g with every MLP neuron at position %d zeroed)%s\n",
		s.Model, s.Images, s.Prob, s.OffProb, s.Pos, acc)
	fmt.Fprintf(Stdout, "joint attribution: %d left-Riemann steps, search by the %s form%s; %.1fs\n\n", s.Steps, s.Form, exactNote(s.Results[0].Exact), s.Seconds)
	fmt.Fprintf(Stdout, "%-11s %11s %11s %14s %14s %11s %13s %15s %10s\n", "path", "JAS code", "JAS paper", "p deactivated", "share removed", "p kept", "p enhanced", "lowest deact.", "best kept")
	for _, ms := range s.Methods {
		fmt.Fprintf(Stdout, "%-11s %+11.4g %+11.4g %14.4g %14.3f %11.4g %13.4g %15d %10d\n", ms.Method, ms.Code, ms.Paper, ms.Deactivated, ms.Removed, ms.Kept, ms.Enhanced, ms.WinsDeactivated, ms.WinsKept)
	}
	fmt.Fprintf(Stdout, "\nshare of the class probability removed by deactivating each path, per class:\n%-6s %7s %8s", "class", "images", "p")
	for _, ms := range s.Methods {
		fmt.Fprintf(Stdout, " %11s", ms.Method)
	}
	fmt.Fprintln(Stdout)
	for _, c := range s.Classes {
		fmt.Fprintf(Stdout, "%-6d %7d %8.4f", c.Class, c.Images, c.Prob)
		for _, ms := range c.Methods {
			fmt.Fprintf(Stdout, " %11.3f", ms.Removed)
		}
		fmt.Fprintln(Stdout)
	}
}

func printImagePath(m *engine.Model, r pathImageResult, asJSON bool) error {
	if asJSON {
		return printJSON(r)
	}
	fmt.Fprintf(Stdout, "%s: %s, class %d: probability %.4g (%.4g with every MLP neuron at position %d zeroed); top class %d\n",
		m.Name, r.Image, r.Token, r.Prob, r.OffProb, r.Pos, r.Top)
	fmt.Fprintf(Stdout, "joint attribution: %d left-Riemann steps, search by the %s form%s; %d forwards, %.2fs\n\n", r.Steps, r.Form, exactNote(r.Exact), r.Forwards, r.Seconds)
	fmt.Fprintf(Stdout, "%-11s %-28s %11s %11s %13s %11s %11s\n", "path", "neurons (layer 0 first)", "JAS code", "JAS paper", "deactivated", "kept", "enhanced")
	for _, p := range r.Paths {
		ns := make([]string, len(p.Neurons))
		for i, n := range p.Neurons {
			ns[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(Stdout, "%-11s %-28s %+11.4g %+11.4g %13.4g %11.4g %11.4g\n", p.Method, strings.Join(ns, " "), p.Code, p.Paper, p.Deactivated, p.Kept, p.Enhanced)
	}
	return nil
}
