package sae

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/glia-dev/glia/format/safetensors"
)

// SaveCheckpoint writes everything a resumed run needs: parameters, Adam's
// moments, the firing counters, the step, the options, and extra (the
// caller's own state, such as a corpus cursor), as one safetensors file.
func (t *Trainer) SaveCheckpoint(path string, extra map[string]string) error {
	var ts []safetensors.Tensor
	names := t.names()
	for i, p := range t.params() {
		ts = append(ts, safetensors.Tensor{Name: names[i], Shape: t.dims()[i], Data: p})
	}
	ts = append(ts, t.opt.state(names)...)
	n := t.Opt.DSAE
	since, fired := make([]float32, n), make([]float32, n)
	for i := range n {
		since[i], fired[i] = float32(t.SinceFired[i]), float32(t.Fired[i])
	}
	ts = append(ts, safetensors.Tensor{Name: "since_fired", Shape: []int{n}, Data: since}, safetensors.Tensor{Name: "fired", Shape: []int{n}, Data: fired})
	opts, err := json.Marshal(t.Opt)
	if err != nil {
		return err
	}
	meta := map[string]string{"options": string(opts), "step": strconv.Itoa(t.Step), "adam_steps": strconv.Itoa(t.opt.steps),
		"samples": strconv.FormatFloat(t.Samples, 'g', -1, 64), "threshold": strconv.FormatFloat(t.Threshold, 'g', -1, 64),
		"scale": strconv.FormatFloat(t.Scale, 'g', -1, 64), "norm_sum": strconv.FormatFloat(t.normSum, 'g', -1, 64),
		"norm_rows": strconv.Itoa(t.normRows), "norm_batches": strconv.Itoa(t.normBatches)}
	for k, v := range extra {
		meta["x."+k] = v
	}
	return writeAtomic(path, func(p string) error { return safetensors.Write(p, ts, meta) })
}

// ResumeTrainer reads a checkpoint written by SaveCheckpoint and returns the
// trainer and the caller's extra state.
func ResumeTrainer(path string) (*Trainer, map[string]string, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	meta := f.Metadata()
	var o Options
	if err := json.Unmarshal([]byte(meta["options"]), &o); err != nil {
		return nil, nil, &Error{Path: path, Msg: "not an SAE training checkpoint (no options)", Err: err}
	}
	t, err := NewTrainer(o)
	if err != nil {
		return nil, nil, &Error{Path: path, Msg: "its options are invalid", Err: err}
	}
	bad := func(k string, err error) (*Trainer, map[string]string, error) {
		return nil, nil, &Error{Path: path, Key: k, Msg: "unreadable checkpoint value", Err: err}
	}
	if t.Step, err = strconv.Atoi(meta["step"]); err != nil {
		return bad("step", err)
	}
	steps, err := strconv.Atoi(meta["adam_steps"])
	if err != nil {
		return bad("adam_steps", err)
	}
	for _, v := range []struct {
		key      string
		dst      *float64
		optional bool // absent before training normalisation
	}{{"samples", &t.Samples, false}, {"threshold", &t.Threshold, false}, {"scale", &t.Scale, true}, {"norm_sum", &t.normSum, true}} {
		s, ok := meta[v.key]
		if !ok && v.optional {
			continue
		}
		if *v.dst, err = strconv.ParseFloat(s, 64); err != nil {
			return bad(v.key, err)
		}
	}
	for _, v := range []struct {
		key string
		dst *int
	}{{"norm_rows", &t.normRows}, {"norm_batches", &t.normBatches}} {
		if s, ok := meta[v.key]; ok {
			if *v.dst, err = strconv.Atoi(s); err != nil {
				return bad(v.key, err)
			}
		}
	}
	dims := t.dims()
	read := func(name string, dst []float32, shape []int) error {
		v, err := readTensor(f, path, name, shape...)
		if err != nil {
			return err
		}
		copy(dst, v)
		return nil
	}
	var m, v [][]float32
	names := t.names()
	for i, p := range t.params() {
		mi, vi := make([]float32, len(p)), make([]float32, len(p))
		if _, ok := f.Shape("log_threshold"); ok && names[i] == "threshold" {
			// Written before θ was trained directly: θ = exp(log θ), and
			// log θ's Adam moments mean nothing for θ, so they restart.
			if err := read("log_threshold", p, dims[i]); err != nil {
				return nil, nil, err
			}
			for k, lt := range p {
				p[k] = float32(math.Exp(float64(lt)))
			}
			m, v = append(m, mi), append(v, vi)
			continue
		}
		if err := read(names[i], p, dims[i]); err != nil {
			return nil, nil, err
		}
		if err := read("adam_m."+names[i], mi, dims[i]); err != nil {
			return nil, nil, err
		}
		if err := read("adam_v."+names[i], vi, dims[i]); err != nil {
			return nil, nil, err
		}
		m, v = append(m, mi), append(v, vi)
	}
	t.opt.restore(m, v, steps)
	n := o.DSAE
	since, fired := make([]float32, n), make([]float32, n)
	if err := read("since_fired", since, []int{n}); err != nil {
		return nil, nil, err
	}
	if err := read("fired", fired, []int{n}); err != nil {
		return nil, nil, err
	}
	for i := range n {
		t.SinceFired[i], t.Fired[i] = int32(since[i]), float64(fired[i])
	}
	extra := map[string]string{}
	for k, val := range meta {
		if len(k) > 2 && k[:2] == "x." {
			extra[k[2:]] = val
		}
	}
	return t, extra, nil
}
