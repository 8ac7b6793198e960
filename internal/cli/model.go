package cli

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/glia-dev/glia/atlas"
	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/internal/atlasmodel"
	"github.com/glia-dev/glia/sae"
)

// modelFlags are the flags every model-running command shares.
type modelFlags struct {
	model  string
	device string
	dtype  string
	tf32   bool
	saes   stringList
	// noSAE leaves out --sae, for commands whose own --sae names the SAEs
	// they work on (glia sae eval).
	noSAE bool
}

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.model, "model", "", "model: a Hugging Face directory, ORG/NAME in the local HF cache, a .gguf file, a llama2.c .bin or an .onnx image classifier (default: the embedded stories260K)")
	fs.StringVar(&f.device, "device", "", "cpu or cuda (default: $GOMLX_BACKEND, else cpu)")
	fs.StringVar(&f.dtype, "dtype", "f32", "compute dtype: f32 or bf16 (norms, rotary and softmax stay float32; outputs are float32)")
	fs.BoolVar(&f.tf32, "tf32", false, "with --device cuda: let float32 matmuls use TF32 (faster, ~1e-3; off by default for parity)")
	if f.noSAE {
		return
	}
	fs.Var(&f.saes, "sae", "attach a SAELens-format SAE directory (repeatable, one per hook): its features become the hook point HOOK.hook_sae_acts_post, with hook_sae_recons and hook_sae_error; unedited, nothing changes (docs/dictionaries.md)")
}

// setDevice chooses the backend: for cuda it first re-executes glia once with
// the NVIDIA libraries on LD_LIBRARY_PATH when they are missing from it.
func (f *modelFlags) setDevice() error {
	engine.AllowTF32(f.tf32)
	if d := strings.ToLower(f.device); d == "cuda" || d == "gpu" {
		if err := reexecWithCUDALibs(); err != nil {
			return err
		}
	}
	return engine.SetDevice(f.device)
}

// setDType applies --dtype to a loaded model.
func (f *modelFlags) setDType(m *engine.Model) error {
	dt, err := engine.ParseDType(f.dtype)
	if err != nil {
		return err
	}
	return m.SetDType(dt)
}

func (f *modelFlags) load() (*engine.Model, error) {
	if err := f.setDevice(); err != nil {
		return nil, err
	}
	m, err := engine.Load(f.model)
	if err != nil {
		return nil, err
	}
	if err := f.setDType(m); err != nil {
		return nil, err
	}
	for _, dir := range f.saes {
		s, err := sae.LoadFor(dir, m.Name, "")
		if err != nil {
			return nil, err
		}
		if err := sae.Attach(m, s); err != nil {
			return nil, fmt.Errorf("--sae %s: %w", dir, err)
		}
	}
	return m, nil
}

// parseIDs reads "3 17 42;5 6 7": sequences separated by ';'.
func parseIDs(s string) ([][]int32, error) {
	var out [][]int32
	for i, seq := range strings.Split(s, ";") {
		var row []int32
		for _, f := range strings.FieldsFunc(seq, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			v, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--ids: sequence %d: %q is not a token id", i, f)
			}
			row = append(row, int32(v))
		}
		if len(row) == 0 {
			return nil, fmt.Errorf("--ids: sequence %d is empty", i)
		}
		out = append(out, row)
	}
	for i, row := range out {
		if len(row) != len(out[0]) {
			return nil, fmt.Errorf("--ids: sequence %d has %d tokens, sequence 0 has %d (sequences must have equal lengths)", i, len(row), len(out[0]))
		}
	}
	return out, nil
}

// encodePrompt tokenizes text with the model's special tokens (BOS).
func encodePrompt(m *engine.Model, text string) ([]int32, error) {
	ids, err := m.Encode(text, true)
	if errors.Is(err, engine.ErrNoTokenizer) {
		return nil, fmt.Errorf("%s has no tokenizer: pass --ids", m.Name)
	}
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("the prompt encodes to no tokens")
	}
	return ids, nil
}

// openAtlasModel loads the model for atlas commands ("" = embedded default).
func openAtlasModel(mf *modelFlags) (atlas.Model, error) {
	m, err := mf.load()
	if err != nil {
		return nil, err
	}
	return atlasmodel.New(m), nil
}
