package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/glia-dev/glia/engine"
)

func init() {
	Register(&Command{Name: "version", Summary: "glia's version and commit, Go and GoMLX versions, and the CPU kernels in use", Run: runVersion})
}

// versionInfo is what `glia version` reports, read from the build.
type versionInfo struct {
	Version  string `json:"version"`          // module version, "(devel)" for a local build
	Commit   string `json:"commit,omitempty"` // vcs.revision, "+dirty" when modified
	Go       string `json:"go"`               // toolchain
	GoMLX    string `json:"gomlx"`            // github.com/gomlx/gomlx
	Compute  string `json:"compute"`          // github.com/gomlx/compute
	SIMD     bool   `json:"simd"`             // built with GOEXPERIMENT=simd
	Platform string `json:"platform"`         // GOOS/GOARCH
	Kernels  string `json:"kernels"`          // what runs the CPU backend's ops
}

// readVersion reads bi, the binary's build information (nil when the
// binary has none). Test binaries record no modules: their versions stay
// "unknown".
func readVersion(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "unknown", Go: runtime.Version(), SIMD: simdBuild, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		GoMLX: "unknown", Compute: "unknown", Commit: ""}
	if bi == nil {
		return v
	}
	v.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value + v.Commit
		case "vcs.modified":
			if s.Value == "true" {
				v.Commit += "+dirty"
			}
		}
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/gomlx/gomlx":
			v.GoMLX = d.Version
		case "github.com/gomlx/compute":
			v.Compute = d.Version
		}
	}
	return v
}

func runVersion(args []string) error {
	fs := newFlags("version")
	asJSON := fs.Bool("json", false, "machine-readable output")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	v := readVersion(bi)
	// The kernels are installed when the backend is created.
	if _, err := engine.Backend(); err != nil {
		v.Kernels = "none: " + err.Error()
	} else {
		v.Kernels = engine.CPUKernels().String()
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(v)
	}
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(Stdout, "glia %s (commit %s)\n%s %s, simd %v\nGoMLX %s, compute %s\nkernels: %s\n",
		v.Version, commit, v.Go, v.Platform, v.SIMD, v.GoMLX, v.Compute, v.Kernels)
	return nil
}
