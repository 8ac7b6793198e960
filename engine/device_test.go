package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/engine"
)

// TestSetDeviceCUDA: SetDevice("cuda") finds the plugin and turns TF32 off
// in the config unless AllowTF32.
func TestSetDeviceCUDA(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	if err := os.MkdirAll(filepath.Dir(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", plugin)
	t.Setenv("GOMLX_BACKEND", "")
	if err := engine.SetDevice("cuda"); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("GOMLX_BACKEND"); got != "xla:"+plugin+",tf32=false" {
		t.Errorf("GOMLX_BACKEND = %q, want xla:PLUGIN,tf32=false", got)
	}
	engine.AllowTF32(true)
	defer engine.AllowTF32(false)
	engine.SetDevice("cuda")
	if got := os.Getenv("GOMLX_BACKEND"); !strings.HasSuffix(got, ",tf32=true") {
		t.Errorf("GOMLX_BACKEND with AllowTF32 = %q", got)
	}
}
