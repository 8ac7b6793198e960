package sae

import (
	"fmt"
	"math"
	"slices"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
)

// SAE is an inference-ready dictionary: one of the architectures SAELens
// saves (standard, topk, jumprelu) with its weights, row-major.
type SAE struct {
	Cfg       Config
	WEnc      []float32 // [d_in, d_sae]
	WDec      []float32 // [d_sae, d_in]
	BEnc      []float32 // [d_sae]
	BDec      []float32 // [d_in]
	Threshold []float32 // [d_sae], jumprelu only
	// A transcoder's W_dec is [d_sae, d_out], its b_dec [d_out], and a skip
	// transcoder has WSkip [d_out, d_in] (transcoder.go).
	WSkip []float32
	// Sparsity is sparsity.safetensors' "sparsity": log10 of each feature's
	// firing frequency over training (nil when the file is absent).
	Sparsity []float32
}

func (s *SAE) checkShapes() error {
	d, n, do := s.Cfg.DIn, s.Cfg.DSAE, s.Cfg.OutWidth()
	skip := 0
	if s.Cfg.Skip {
		skip = do * d
	}
	for _, t := range []struct {
		name string
		got  int
		want int
	}{{"W_enc", len(s.WEnc), d * n}, {"W_dec", len(s.WDec), n * do}, {"b_enc", len(s.BEnc), n}, {"b_dec", len(s.BDec), do}, {"W_skip", len(s.WSkip), skip}} {
		if t.got != t.want {
			return fmt.Errorf("sae: %s has %d values, want %d (d_in %d, d_sae %d, d_out %d)", t.name, t.got, t.want, d, n, do)
		}
	}
	if s.Cfg.Architecture == JumpReLU && len(s.Threshold) != n {
		return fmt.Errorf("sae: threshold has %d values, want d_sae = %d", len(s.Threshold), n)
	}
	return nil
}

// rowNorms returns ‖W_dec[i]‖ for every feature.
func rowNorms(wdec []float32, n, d int) []float32 {
	out := make([]float32, n)
	for i := range n {
		var s float64
		for _, v := range wdec[i*d : (i+1)*d] {
			s += float64(v) * float64(v)
		}
		out[i] = float32(math.Sqrt(s))
	}
	return out
}

// norm is the run-time activation normalisation of one batch: SAELens
// applies it to the input and undoes it on the reconstruction.
type norm struct {
	kind  string
	scale []float32 // per row: constant_norm_rescale's √d/‖x‖, layer_norm's std
	mu    []float32 // layer_norm's mean per row
}

func normIn(kind string, x []float32, rows, d int) ([]float32, norm) {
	nm := norm{kind: kind}
	switch kind {
	case "constant_norm_rescale":
		out := slices.Clone(x)
		nm.scale = make([]float32, rows)
		for r := range rows {
			row := out[r*d : (r+1)*d]
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			c := float32(math.Sqrt(float64(d)) / math.Sqrt(s))
			nm.scale[r] = c
			for i := range row {
				row[i] *= c
			}
		}
		return out, nm
	case "layer_norm":
		out := slices.Clone(x)
		nm.scale, nm.mu = make([]float32, rows), make([]float32, rows)
		for r := range rows {
			row := out[r*d : (r+1)*d]
			var mean, ss float64
			for _, v := range row {
				mean += float64(v)
			}
			mean /= float64(d)
			for _, v := range row {
				ss += (float64(v) - mean) * (float64(v) - mean)
			}
			std := math.Sqrt(ss / float64(max(d-1, 1))) // torch.std is unbiased
			nm.mu[r], nm.scale[r] = float32(mean), float32(std)
			for i := range row {
				row[i] = float32((float64(row[i]) - mean) / (std + 1e-5))
			}
		}
		return out, nm
	}
	return x, nm
}

func (nm norm) out(y []float32, d int) {
	switch nm.kind {
	case "constant_norm_rescale":
		for r, c := range nm.scale {
			for i := range y[r*d : (r+1)*d] {
				y[r*d+i] /= c
			}
		}
	case "layer_norm":
		for r := range nm.scale {
			for i := range y[r*d : (r+1)*d] {
				y[r*d+i] = y[r*d+i]*nm.scale[r] + nm.mu[r]
			}
		}
	}
}

// Pre returns the encoder's pre-activations [rows, d_sae] of x [rows, d_in]
// (after the input normalisation and b_dec), and the normalisation to undo.
func (s *SAE) pre(x []float32, rows int) ([]float32, norm) {
	d, n := s.Cfg.DIn, s.Cfg.DSAE
	in, nm := normIn(s.Cfg.NormalizeActivations, x, rows, d)
	if s.Cfg.ApplyBDecToInput {
		in = subRows(in, s.BDec, rows, d)
	}
	pre := make([]float32, rows*n)
	sgemm.MatMul(in, s.WEnc, pre, 1, rows, n, d, false)
	addRows(pre, s.BEnc, rows, n)
	return pre, nm
}

// subRows returns x − b for every row (a new slice).
func subRows(x, b []float32, rows, d int) []float32 {
	out := make([]float32, len(x))
	for r := range rows {
		for i := range d {
			out[r*d+i] = x[r*d+i] - b[i]
		}
	}
	return out
}

func addRows(x, b []float32, rows, d int) {
	for r := range rows {
		row := x[r*d : (r+1)*d]
		for i := range row {
			row[i] += b[i]
		}
	}
}

// Encode returns the feature activations [rows, d_sae] of x [rows, d_in]
// (hook_sae_acts_post in SAELens).
func (s *SAE) Encode(x []float32, rows int) []float32 {
	acts, _ := s.encode(x, rows)
	return acts
}

func (s *SAE) encode(x []float32, rows int) ([]float32, norm) {
	n := s.Cfg.DSAE
	pre, nm := s.pre(x, rows)
	switch s.Cfg.Architecture {
	case Standard:
		relu(pre)
	case JumpReLU:
		for r := range rows {
			for i, v := range pre[r*n : (r+1)*n] {
				if !(v > s.Threshold[i]) || v < 0 {
					pre[r*n+i] = 0
				}
			}
		}
	case TopK:
		if s.Cfg.RescaleActsByDecNorm {
			scaleCols(pre, rowNorms(s.WDec, n, s.Cfg.OutWidth()), rows, n)
		}
		keep, idx := make([]int32, s.Cfg.K), make([]int32, n)
		for r := range rows {
			row := pre[r*n : (r+1)*n]
			topK(row, keep, idx)
			maskKeep(row, keep)
		}
	}
	return pre, nm
}

// Decode returns the reconstruction [rows, d_in] of feature activations
// [rows, d_sae] (without any normalisation to undo); a transcoder's is
// [rows, d_out], without the skip term.
func (s *SAE) Decode(acts []float32, rows int) []float32 {
	d, n := s.Cfg.OutWidth(), s.Cfg.DSAE
	if s.Cfg.Architecture == TopK && s.Cfg.RescaleActsByDecNorm {
		acts = slices.Clone(acts)
		nv := rowNorms(s.WDec, n, d)
		for i := range nv {
			nv[i] = 1 / nv[i]
		}
		scaleCols(acts, nv, rows, n)
	}
	out := make([]float32, rows*d)
	sgemm.MatMul(acts, s.WDec, out, 1, rows, d, n, false)
	addRows(out, s.BDec, rows, d)
	return out
}

// Forward encodes and decodes x [rows, d_in]: the feature activations and
// the reconstruction in x's own scale (a transcoder's output [rows, d_out],
// with W_skip·x).
func (s *SAE) Forward(x []float32, rows int) (acts, recon []float32) {
	acts, nm := s.encode(x, rows)
	recon = s.Decode(acts, rows)
	if s.Cfg.IsTranscoder() {
		s.addSkip(x, recon, rows)
		return acts, recon
	}
	nm.out(recon, s.Cfg.DIn)
	return acts, recon
}

func relu(x []float32) {
	for i, v := range x {
		if !(v > 0) {
			x[i] = 0
		}
	}
}

func scaleCols(x, c []float32, rows, n int) {
	for r := range rows {
		row := x[r*n : (r+1)*n]
		for i := range row {
			row[i] *= c[i]
		}
	}
}

// maskKeep zeroes row outside keep and applies ReLU inside it.
func maskKeep(row []float32, keep []int32) {
	vals := make([]float32, len(keep))
	for j, i := range keep {
		vals[j] = max(row[i], 0)
	}
	clear(row)
	for j, i := range keep {
		row[i] = vals[j]
	}
}

// topK writes into keep the indices of the len(keep) largest values of row
// (ties to the lower index), by quickselect on a copy of the indices: O(n).
// idx is scratch of len(row).
func topK(row []float32, keep, idx []int32) {
	k := len(keep)
	for i := range idx {
		idx[i] = int32(i)
	}
	key := func(i int32) float32 {
		if v := row[i]; v == v {
			return v
		}
		return float32(math.Inf(-1)) // NaN ranks last
	}
	less := func(a, b int32) bool { // a ranks before b
		if va, vb := key(a), key(b); va != vb {
			return va > vb
		}
		return a < b
	}
	lo, hi := 0, len(idx)-1
	for lo < hi {
		// median of three for a pivot
		mid := lo + (hi-lo)/2
		if less(idx[mid], idx[lo]) {
			idx[mid], idx[lo] = idx[lo], idx[mid]
		}
		if less(idx[hi], idx[lo]) {
			idx[hi], idx[lo] = idx[lo], idx[hi]
		}
		if less(idx[hi], idx[mid]) {
			idx[hi], idx[mid] = idx[mid], idx[hi]
		}
		p := idx[mid]
		i, j := lo, hi
		for i <= j {
			for less(idx[i], p) {
				i++
			}
			for less(p, idx[j]) {
				j--
			}
			if i <= j {
				idx[i], idx[j] = idx[j], idx[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			lo = hi
		}
	}
	copy(keep, idx[:k])
}
