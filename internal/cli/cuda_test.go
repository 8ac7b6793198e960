package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCUDALibDirs(t *testing.T) {
	site := t.TempDir()
	for _, d := range []string{"jax_plugins/xla_cuda13", "nvidia/cublas/lib", "nvidia/cudnn/lib", "nvidia/cu13/lib", "nvidia/nolib/include"} {
		if err := os.MkdirAll(filepath.Join(site, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(site, "nvidia/stray/lib"), nil, 0o644) // a file, not a directory
	plugin := filepath.Join(site, "jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	if err := os.WriteFile(plugin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := cudaLibDirs(plugin)
	want := []string{filepath.Join(site, "nvidia/cu13/lib"), filepath.Join(site, "nvidia/cublas/lib"), filepath.Join(site, "nvidia/cudnn/lib")}
	if strings.Join(got, ":") != strings.Join(want, ":") {
		t.Fatalf("cudaLibDirs = %v, want %v", got, want)
	}
	ld, changed := extendLibraryPath("/usr/lib:"+want[1]+"/", want)
	if !changed || ld != "/usr/lib:"+want[1]+"/:"+want[0]+":"+want[2] {
		t.Errorf("extendLibraryPath = %q, %v", ld, changed)
	}
	if again, changed := extendLibraryPath(ld, want); changed || again != ld {
		t.Errorf("extendLibraryPath on a complete path = %q, %v; want unchanged", again, changed)
	}
	if ld, changed := extendLibraryPath("", want[:1]); !changed || ld != want[0] {
		t.Errorf("extendLibraryPath from empty = %q, %v", ld, changed)
	}
}
