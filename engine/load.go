package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/glia-dev/glia/arch"
	"github.com/glia-dev/glia/format/safetensors"
)

// Load opens a model by path (an HF model directory, a .gguf file or a
// llama2.c checkpoint) or by Hugging Face repo id from the local cache.
// The empty spec is the embedded default model.
func Load(spec string) (*Model, error) {
	if spec == "" {
		return LoadDefault()
	}
	path, err := Resolve(spec)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if st.IsDir() {
		return loadHFDir(path)
	}
	return loadFile(path)
}

func loadHFDir(dir string) (*Model, error) {
	cfg, err := arch.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("engine: %s is not a Hugging Face model directory: %w", dir, err)
	}
	src, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer src.Close()
	m, err := FromSource(dir, cfg, src)
	if err != nil {
		return nil, err
	}
	m.Tokenizer, err = dirTokenizer(dir)
	return m, err
}

// Resolve turns a model spec into a path: an existing path is returned as is;
// ORG/NAME is looked up in the Hugging Face hub cache ($HF_HUB_CACHE, else
// $HF_HOME/hub, else ~/.cache/huggingface/hub), offline, and so is a bare
// NAME, as the hub's oldest models are named ("gpt2").
func Resolve(spec string) (string, error) {
	if _, err := os.Stat(spec); err == nil {
		return spec, nil
	}
	if strings.Count(spec, "/") > 1 || strings.HasPrefix(spec, ".") || strings.HasPrefix(spec, "/") ||
		strings.ContainsAny(spec, `\`) || (!strings.Contains(spec, "/") && looksLikeFile(spec)) {
		return "", fmt.Errorf("engine: model %q: no such file or directory", spec)
	}
	cache := os.Getenv("HF_HUB_CACHE")
	if cache == "" {
		home := os.Getenv("HF_HOME")
		if home == "" {
			h, _ := os.UserHomeDir()
			home = filepath.Join(h, ".cache", "huggingface")
		}
		cache = filepath.Join(home, "hub")
	}
	repo := filepath.Join(cache, "models--"+strings.ReplaceAll(spec, "/", "--"))
	if b, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err == nil {
		snap := filepath.Join(repo, "snapshots", strings.TrimSpace(string(b)))
		if _, err := os.Stat(snap); err == nil {
			return snap, nil
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(repo, "snapshots", "*"))
	if len(snaps) == 0 {
		return "", fmt.Errorf("engine: model %q is neither a file or directory here nor in the Hugging Face cache (looked in %s); glia works offline: download it first (huggingface-cli download %s) or give a model directory", spec, repo, spec)
	}
	// Newest snapshot when refs/main is absent.
	sort.Slice(snaps, func(i, j int) bool { return modTime(snaps[i]) > modTime(snaps[j]) })
	return snaps[0], nil
}

// looksLikeFile says whether a bare name that does not exist was meant as a
// file ("model.gguf") rather than a hub name ("gpt2").
func looksLikeFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".gguf", ".bin", ".safetensors", ".json", ".pt", ".pth", ".gz", ".onnx":
		return true
	}
	return false
}

func modTime(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.ModTime().UnixNano()
}
