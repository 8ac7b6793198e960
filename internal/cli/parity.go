package cli

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/glia-dev/glia/engine"
)

func init() {
	Register(&Command{Name: "parity", Summary: "check hf-tiny fixtures against transformers on this device (what go test runs; for GPU machines)", Run: runParity})
}

// parityRow is one fixture's line of the table (and of --json).
type parityRow struct {
	*engine.ParityReport
	Worst      engine.ParityCheck `json:"worst"`
	LogitsDiff float64            `json:"logits_maxdiff"`
	VsSaved    *float64           `json:"logits_vs_saved,omitempty"` // --compare-logits
	OK         bool               `json:"ok"`
	Error      string             `json:"error,omitempty"`
}

func runParity(args []string) error {
	fs := newFlags("parity")
	var mf modelFlags
	mf.register(fs)
	fixtures := fs.String("fixtures", "testdata/hf-tiny", "directory of hf-tiny fixtures (one model directory with reference.safetensors each)")
	asJSON := fs.Bool("json", false, "one JSON object per fixture")
	save := fs.String("save-logits", "", "write each fixture's logits to DIR/FIXTURE.DTYPE.f32 (raw little-endian float32)")
	compare := fs.String("compare-logits", "", "compare logits with those --save-logits wrote in DIR (another device's run), judged at 1e-2")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := mf.setDevice(); err != nil {
		return err
	}
	dt, err := engine.ParseDType(mf.dtype)
	if err != nil {
		return err
	}
	dirs, _ := filepath.Glob(filepath.Join(*fixtures, "*", "reference.safetensors"))
	if len(dirs) == 0 {
		return fmt.Errorf("no fixtures (*/reference.safetensors) in %s", *fixtures)
	}
	if *save != "" {
		if err := os.MkdirAll(*save, 0o755); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(Stdout)
	if !*asJSON {
		fmt.Fprintf(Stdout, "backend %s, dtype %s, tf32 %v\n%-10s %-4s %-12s %-12s %-8s %s\n", engine.BackendName(), engine.DTypeName(dt), mf.tf32, "fixture", "ok", "logits", "vs-saved", "greedy", "worst check")
	}
	failed := 0
	for _, ref := range dirs {
		dir := filepath.Dir(ref)
		row := parityRow{}
		r, err := engine.Parity(dir, dt)
		if err != nil {
			row.ParityReport = &engine.ParityReport{Fixture: filepath.Base(dir), DType: engine.DTypeName(dt)}
			row.Error = err.Error()
		} else {
			row.ParityReport = r
			row.Worst = r.Worst()
			c, _ := r.Check("logits")
			row.LogitsDiff = c.MaxDiff
			row.OK = r.OK()
			name := fmt.Sprintf("%s.%s.f32", r.Fixture, r.DType)
			if *save != "" {
				if err := writeFloats(filepath.Join(*save, name), r.Logits); err != nil {
					return err
				}
			}
			if *compare != "" {
				saved, err := readFloats(filepath.Join(*compare, name))
				switch {
				case err != nil:
					row.Error, row.OK = err.Error(), false
				case len(saved) != len(r.Logits):
					row.Error, row.OK = fmt.Sprintf("saved logits have %d values, this run %d", len(saved), len(r.Logits)), false
				default:
					d, _ := engine.MaxDiff(r.Logits, saved)
					row.VsSaved = &d
					if d > engine.SameDTypeTolerance || math.IsNaN(d) {
						row.OK = false
					}
				}
			}
		}
		if !row.OK {
			failed++
		}
		if *asJSON {
			if err := enc.Encode(row); err != nil {
				return err
			}
			continue
		}
		vs := "-"
		if row.VsSaved != nil {
			vs = fmt.Sprintf("%.3g", *row.VsSaved)
		}
		worst := fmt.Sprintf("%s %.3g", row.Worst.What, row.Worst.MaxDiff)
		if row.Error != "" {
			worst = "error: " + row.Error
		}
		fmt.Fprintf(Stdout, "%-10s %-4v %-12.3g %-12s %d/%-6d %s\n", row.Fixture, row.OK, row.LogitsDiff, vs, row.GreedyEqual, row.GreedyTotal, worst)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d fixtures failed", failed, len(dirs))
	}
	return nil
}

func writeFloats(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return os.WriteFile(path, b, 0o644)
}

func readFloats(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, errors.New(path + ": not float32 data")
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
