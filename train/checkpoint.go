package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/glia-dev/glia/format/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
)

// CheckpointFile is the checkpoint's name inside the output directory. It is
// one safetensors file: the weights under their own names, AdamW's moments
// under "adamw.m." and "adamw.v." + name, and the run in the metadata key
// "glia.train" (RunState as JSON). The Hugging Face loaders read only
// model.safetensors, so it can sit beside the exported model.
const CheckpointFile = "checkpoint.safetensors"

const (
	momentM  = "adamw.m."
	momentV  = "adamw.v."
	metaKey  = "glia.train"
	runState = 1 // RunState format version
)

// RunState is what a checkpoint records besides tensors. The random state
// is (Seed, Step): batches are drawn from streams keyed by them (see Task).
type RunState struct {
	Version int            `json:"version"`
	Step    int            `json:"step"`
	Seed    uint64         `json:"seed"`
	Config  map[string]any `json:"config"` // the model's config.json
	Run     map[string]any `json:"run"`    // everything else that shapes the trajectory
}

// SaveCheckpoint writes the trainer's state to path atomically (a temporary
// file in the same directory, synced, then renamed): an interrupted or
// failed write, a full disk included, leaves the previous checkpoint whole.
func (t *Trainer) SaveCheckpoint(path string, st RunState) error {
	st.Version, st.Step = runState, t.Step
	meta, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	ts := append(append(t.Weights(), t.host(momentM, t.m)...), t.host(momentV, t.v)...)
	return writeAtomic(path, func(w io.Writer) error {
		_, err := safetensors.WriteTo(w, ts, map[string]string{metaKey: string(meta)})
		return err
	})
}

// ReadRunState reads a checkpoint's RunState without its tensors.
func ReadRunState(path string) (RunState, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return RunState{}, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	return runStateOf(path, f.Metadata())
}

func runStateOf(path string, meta map[string]string) (RunState, error) {
	var st RunState
	raw, ok := meta[metaKey]
	if !ok {
		return st, fmt.Errorf("train: %s is not a glia training checkpoint (no %q metadata)", path, metaKey)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, fmt.Errorf("train: %s: metadata: %w", path, err)
	}
	if st.Version != runState {
		return st, fmt.Errorf("train: %s: checkpoint format %d, this glia reads %d", path, st.Version, runState)
	}
	return st, nil
}

// LoadCheckpoint replaces the trainer's weights, moments and step with a
// checkpoint's, after checking that it was written for the same model and
// run (want: the Config and Run this run would record).
func (t *Trainer) LoadCheckpoint(path string, want RunState) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	st, err := runStateOf(path, f.Metadata())
	if err != nil {
		return err
	}
	if d := differences(want, st); len(d) > 0 {
		return fmt.Errorf("train: %s was written by a different run (%s); resume with the same settings, or start afresh in another directory", path, strings.Join(d, "; "))
	}
	if st.Step > t.Hyper.Steps {
		return fmt.Errorf("train: %s is at step %d, past the run's %d steps", path, st.Step, t.Hyper.Steps)
	}
	read := func(prefix string) ([]*tensors.Tensor, error) {
		out := make([]*tensors.Tensor, len(t.specs))
		for i, s := range t.specs {
			data, err := f.Float32(prefix + s.Name)
			if err != nil {
				finalize(out[:i])
				return nil, fmt.Errorf("train: %w", err)
			}
			if len(data) != numel(s.Shape) {
				finalize(out[:i])
				return nil, fmt.Errorf("train: %s: %s%s has %d values, the model needs %v", path, prefix, s.Name, len(data), s.Shape)
			}
			out[i] = tensors.FromFlatDataAndDimensions(data, s.Shape...)
		}
		return out, nil
	}
	var all [3][]*tensors.Tensor
	for i, p := range []string{"", momentM, momentV} {
		if all[i], err = read(p); err != nil {
			for _, a := range all[:i] {
				finalize(a)
			}
			return err
		}
	}
	finalize(t.w)
	finalize(t.m)
	finalize(t.v)
	t.w, t.m, t.v = all[0], all[1], all[2]
	t.Step = st.Step
	return nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// differences lists where a checkpoint's run differs from this one's,
// comparing their JSON forms (numbers read back as float64).
func differences(want, got RunState) []string {
	norm := func(v any) any {
		b, _ := json.Marshal(v)
		var out any
		json.Unmarshal(b, &out)
		return out
	}
	var d []string
	if want.Seed != got.Seed {
		d = append(d, fmt.Sprintf("seed %d, checkpoint %d", want.Seed, got.Seed))
	}
	for _, part := range []struct {
		name      string
		want, got map[string]any
	}{{"config", want.Config, got.Config}, {"run", want.Run, got.Run}} {
		w, g := norm(part.want).(map[string]any), norm(part.got).(map[string]any)
		for k, v := range w {
			if !reflect.DeepEqual(v, g[k]) {
				d = append(d, fmt.Sprintf("%s %s: %v, checkpoint %v", part.name, k, v, g[k]))
			}
		}
		for k, v := range g {
			if _, ok := w[k]; !ok {
				d = append(d, fmt.Sprintf("%s %s: unset, checkpoint %v", part.name, k, v))
			}
		}
	}
	return d
}

// writeHook wraps the writer of every file train writes. Tests replace it
// with one that fails part-way, as a full disk does, without needing root
// or a small file system.
var writeHook = func(w io.Writer) io.Writer { return w }

// writeFileAtomic writes data to path through a synced temporary file.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic streams a file to a temporary one in path's directory, syncs
// it and renames it over path: a failed write, a full disk included,
// removes the temporary file and leaves any earlier path whole.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("train: writing %s: %w", path, err)
		}
	}()
	if err = write(writeHook(tmp)); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
