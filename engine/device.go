package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SetDevice chooses the backend before the first model loads: "cpu" (the
// pure-Go backend), "cuda"/"gpu" (XLA with a PJRT CUDA plugin), or "" to
// keep $GOMLX_BACKEND (default cpu).
func SetDevice(device string) error {
	switch strings.ToLower(device) {
	case "":
		return nil
	case "cpu":
		return os.Setenv("GOMLX_BACKEND", "go")
	case "cuda", "gpu":
		p, err := FindCUDAPlugin()
		if err != nil {
			return err
		}
		return os.Setenv("GOMLX_BACKEND", "xla:"+p+TF32Option()) // TF32 off unless AllowTF32 (below)
	}
	return fmt.Errorf("engine: unknown device %q (want cpu or cuda)", device)
}

// FindCUDAPlugin locates a PJRT CUDA plugin: $PJRT_PLUGIN_LIBRARY_PATH, else
// the xla_cuda_plugin.so that JAX's CUDA wheels install into a Python
// environment's site-packages.
func FindCUDAPlugin() (string, error) {
	if p := os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("engine: $PJRT_PLUGIN_LIBRARY_PATH=%s does not exist", p)
	}
	var roots []string
	for _, pat := range []string{"/usr/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages", "/opt/conda/lib/python3*/site-packages", os.Getenv("HOME") + "/.local/lib/python3*/site-packages", os.Getenv("VIRTUAL_ENV") + "/lib/python3*/site-packages", os.Getenv("CONDA_PREFIX") + "/lib/python3*/site-packages"} {
		m, _ := filepath.Glob(pat)
		roots = append(roots, m...)
	}
	for _, r := range roots {
		m, _ := filepath.Glob(filepath.Join(r, "jax_plugins", "*", "xla_cuda_plugin.so"))
		if len(m) > 0 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("engine: no PJRT CUDA plugin found: install JAX's CUDA plugin (pip install 'jax[cuda13]') or set PJRT_PLUGIN_LIBRARY_PATH to a xla_cuda_plugin.so; the NVIDIA libraries (site-packages/nvidia/*/lib) must be on LD_LIBRARY_PATH")
}

// BackendName is the kind of backend $GOMLX_BACKEND selects (SetDevice sets
// it): "go" for the pure-Go CPU backend, else the part before ':' ("xla").
func BackendName() string {
	cfg := os.Getenv("GOMLX_BACKEND")
	if cfg == "" {
		return "go"
	}
	name, _, _ := strings.Cut(cfg, ":")
	return name
}

// TF32.
//
// XLA on CUDA runs float32 matmuls in TF32 (10-bit mantissa inputs) unless
// told otherwise; glia turns that off so float32 runs match the CPU and
// transformers to 1e-4. SetDevice("cuda") appends TF32Option() to the
// backend config, e.g. GOMLX_BACKEND="xla:/…/xla_cuda_plugin.so,tf32=false",
// which makes go-xla give every float32 DotGeneral precision_config HIGHEST.

var allowTF32 bool

// AllowTF32 lets float32 matmuls on CUDA use TF32 (faster, ~1e-3 relative).
// Call it before SetDevice.
func AllowTF32(on bool) { allowTF32 = on }

// TF32Option is the backend-config suffix SetDevice adds for CUDA.
func TF32Option() string {
	if allowTF32 {
		return ",tf32=true"
	}
	return ",tf32=false"
}
