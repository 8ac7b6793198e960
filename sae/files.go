package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/glia-dev/glia/format/safetensors"
)

// File names in an SAE directory, as SAELens writes them.
const (
	CfgFile      = "cfg.json"
	WeightsFile  = "sae_weights.safetensors"
	SparsityFile = "sparsity.safetensors"
)

// Load reads an SAE directory: cfg.json, sae_weights.safetensors and, when
// present, sparsity.safetensors. Weights stored in float16 or bfloat16 are
// widened to float32.
func Load(dir string) (*SAE, error) {
	cfgPath := filepath.Join(dir, CfgFile)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, &Error{Path: cfgPath, Msg: "cannot read the SAE's config", Err: err}
	}
	cfg, err := ParseConfig(cfgPath, data)
	if err != nil {
		return nil, err
	}
	wPath := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(wPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := readWeights(f, wPath, cfg)
	if err != nil {
		return nil, err
	}
	spPath := filepath.Join(dir, SparsityFile)
	if _, err := os.Stat(spPath); err == nil {
		sf, err := safetensors.Open(spPath)
		if err != nil {
			return nil, err
		}
		defer sf.Close()
		if s.Sparsity, err = readTensor(sf, spPath, "sparsity", cfg.DSAE); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Path: spPath, Msg: "cannot stat", Err: err}
	}
	return s, nil
}

// LoadFor loads an SAE and checks that it was trained on model at hook; a
// mismatch names both. An empty model or hook is not checked.
func LoadFor(dir, model, hook string) (*SAE, error) {
	s, err := Load(dir)
	if err != nil {
		return nil, err
	}
	m := s.Cfg.Metadata
	if (model != "" && m.ModelName != "" && m.ModelName != model) || (hook != "" && m.HookName != hook) {
		return nil, &MismatchError{Dir: dir, SAEModel: m.ModelName, SAEHook: m.HookName, WantModel: model, WantHook: hook, SAEHookOut: m.HookNameOut}
	}
	return s, nil
}

// tensorSource is what readWeights needs of a safetensors file.
type tensorSource interface {
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, error)
}

func readWeights(f tensorSource, path string, cfg Config) (*SAE, error) {
	d, n, do := cfg.DIn, cfg.DSAE, cfg.OutWidth()
	s := &SAE{Cfg: cfg}
	var err error
	read := func(name string, dims ...int) []float32 {
		if err != nil {
			return nil
		}
		var v []float32
		v, err = readTensor(f, path, name, dims...)
		return v
	}
	s.WEnc = read("W_enc", d, n)
	s.WDec = read("W_dec", n, do)
	s.BEnc = read("b_enc", n)
	s.BDec = read("b_dec", do)
	if cfg.Skip {
		s.WSkip = read("W_skip", do, d)
	}
	if e, ok := err.(*Error); ok && cfg.IsTranscoder() {
		e.Msg = strings.Replace(e.Msg, "d_in and d_sae", "d_in, d_sae and d_out", 1)
	}
	if cfg.Architecture == JumpReLU {
		if _, ok := f.Shape("threshold"); ok {
			s.Threshold = read("threshold", n)
		} else if _, ok := f.Shape("log_threshold"); ok { // a training checkpoint
			s.Threshold = read("log_threshold", n)
			for i, v := range s.Threshold {
				s.Threshold[i] = float32(math.Exp(float64(v)))
			}
		} else if err == nil {
			err = &Error{Path: path, Tensor: "threshold", Msg: "a jumprelu SAE needs a threshold tensor"}
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// readTensor reads name and checks its shape is dims.
func readTensor(f tensorSource, path, name string, dims ...int) ([]float32, error) {
	shape, ok := f.Shape(name)
	if !ok {
		return nil, &Error{Path: path, Tensor: name, Msg: "missing"}
	}
	if !slices.Equal(shape, dims) {
		return nil, &Error{Path: path, Tensor: name, Msg: fmt.Sprintf("has shape %v; cfg.json's d_in and d_sae make it %v", shape, dims)}
	}
	return f.Float32(name)
}

// Save writes dir/cfg.json, dir/sae_weights.safetensors and, when Sparsity
// is set, dir/sparsity.safetensors, creating dir. The weights are float32;
// cfg.json's dtype says so.
func (s *SAE) Save(dir string) error {
	if err := s.checkShapes(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &Error{Path: dir, Msg: "cannot create the SAE directory", Err: err}
	}
	cfg := s.Cfg
	cfg.DType = "float32"
	if cfg.Metadata.SAELensVersion == "" {
		cfg.Metadata.SAELensVersion = Version
	}
	d, n, do := cfg.DIn, cfg.DSAE, cfg.OutWidth()
	ts := []safetensors.Tensor{
		{Name: "W_enc", Shape: []int{d, n}, Data: s.WEnc},
		{Name: "W_dec", Shape: []int{n, do}, Data: s.WDec},
		{Name: "b_enc", Shape: []int{n}, Data: s.BEnc},
		{Name: "b_dec", Shape: []int{do}, Data: s.BDec},
	}
	if cfg.Skip {
		ts = append(ts, safetensors.Tensor{Name: "W_skip", Shape: []int{do, d}, Data: s.WSkip})
	}
	if cfg.Architecture == JumpReLU {
		ts = append(ts, safetensors.Tensor{Name: "threshold", Shape: []int{n}, Data: s.Threshold})
	}
	if err := writeAtomic(filepath.Join(dir, WeightsFile), func(p string) error { return safetensors.Write(p, ts, nil) }); err != nil {
		return err
	}
	if s.Sparsity != nil {
		sp := []safetensors.Tensor{{Name: "sparsity", Shape: []int{n}, Data: s.Sparsity}}
		if err := writeAtomic(filepath.Join(dir, SparsityFile), func(p string) error { return safetensors.Write(p, sp, nil) }); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return &Error{Path: filepath.Join(dir, CfgFile), Msg: "cannot encode the config", Err: err}
	}
	return writeAtomic(filepath.Join(dir, CfgFile), func(p string) error { return os.WriteFile(p, append(js, '\n'), 0o644) })
}

// writeAtomic writes through a temporary file renamed over path, so an
// interrupted save leaves the previous file whole.
func writeAtomic(path string, write func(tmp string) error) error {
	tmp := path + ".tmp"
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return &Error{Path: path, Msg: "cannot write", Err: err}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return &Error{Path: path, Msg: "cannot write", Err: err}
	}
	return nil
}
