package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/glia-dev/glia/engine"
)

// The PJRT CUDA plugin links against the NVIDIA libraries that pip wheels
// install as site-packages/nvidia/*/lib. The dynamic loader reads
// LD_LIBRARY_PATH once, at process start, so a process that finds them
// missing re-executes itself once with them added (reexecWithCUDALibs).
// That is for a command to do to its own process, never for a library to
// do to the program that imports it: it lives here, not in engine.

// reexecEnv marks the re-executed process, so it never loops.
const reexecEnv = "GLIA_CUDA_REEXEC"

// cudaLibDirs lists the site-packages/nvidia/*/lib directories beside a
// plugin installed as site-packages/jax_plugins/NAME/xla_cuda_plugin.so,
// sorted.
func cudaLibDirs(plugin string) []string {
	site := filepath.Dir(filepath.Dir(filepath.Dir(plugin)))
	m, _ := filepath.Glob(filepath.Join(site, "nvidia", "*", "lib"))
	var out []string
	for _, d := range m {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// extendLibraryPath returns ldPath with the dirs it lacks appended, and
// whether any were missing.
func extendLibraryPath(ldPath string, dirs []string) (string, bool) {
	have := map[string]bool{}
	var parts []string
	for _, p := range filepath.SplitList(ldPath) {
		if p != "" {
			have[filepath.Clean(p)] = true
			parts = append(parts, p)
		}
	}
	changed := false
	for _, d := range dirs {
		if !have[filepath.Clean(d)] {
			parts = append(parts, d)
			have[filepath.Clean(d)] = true
			changed = true
		}
	}
	return strings.Join(parts, string(filepath.ListSeparator)), changed
}

// reexecWithCUDALibs re-executes the running program with LD_LIBRARY_PATH
// extended by the CUDA plugin's NVIDIA library directories when some are
// missing from it; it returns nil without doing anything when none are
// missing, no plugin is found, or the process is already the re-executed
// one. On success it does not return.
func reexecWithCUDALibs() error {
	if os.Getenv(reexecEnv) != "" {
		return nil
	}
	plugin, err := engine.FindCUDAPlugin()
	if err != nil {
		return nil // engine.SetDevice reports it
	}
	ld, changed := extendLibraryPath(os.Getenv("LD_LIBRARY_PATH"), cudaLibDirs(plugin))
	if !changed {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("re-executing with the CUDA libraries on LD_LIBRARY_PATH: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") { // the loader takes the first; keep one
			env = append(env, kv)
		}
	}
	env = append(env, reexecEnv+"=1", "LD_LIBRARY_PATH="+ld)
	return fmt.Errorf("re-executing %s with the CUDA libraries on LD_LIBRARY_PATH: %w", exe, syscall.Exec(exe, os.Args, env))
}
