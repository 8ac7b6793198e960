package sae

import (
	"math"

	"github.com/glia-dev/glia/engine/cpu/sgemm"
)

// work holds one batch size's scratch buffers between steps.
type work struct {
	rows                    int
	s, sT, xhat, r, dx, e   []float32 // [B, d] ([d, B] for sT)
	pre, u, uT, gu, gpre, a []float32 // [B, n] ([n, B] for uT)
	h                       []float32 // [B, n] selection scores
	tmpND, tmpDN            []float32
	keep, idx               []int32
	fired                   []bool
	su, sa, sg              sparseRows // u's, a's and gpre's nonzeros
}

func (t *Trainer) work(rows int) *work {
	if t.w.rows == rows {
		return &t.w
	}
	d, n, do := t.Opt.DIn, t.Opt.DSAE, t.Opt.outWidth()
	f := func(k int) []float32 { return make([]float32, k) }
	t.w = work{rows: rows, s: f(rows * d), sT: f(rows * d), xhat: f(rows * do), r: f(rows * do), dx: f(rows * do), e: f(rows * do),
		pre: f(rows * n), u: f(rows * n), uT: f(rows * n), gu: f(rows * n), gpre: f(rows * n), a: f(rows * n), h: f(rows * n),
		tmpND: f(n * max(d, do)), tmpDN: f(d * n), idx: make([]int32, max(n, rows*n)), fired: make([]bool, n)}
	return &t.w
}

// pass runs the training forward pass on x [rows, d_in] and, with grad,
// the backward pass: the gradients of the loss in params() order. The loss
// is SAELens's: Σ_dims (x̂ − x)², averaged over rows, plus the
// architecture's term. Selections (TopK, BatchTopK, the JumpReLU step)
// are constants of the backward pass; JumpReLU's θ gets the
// straight-through estimate with a rectangle kernel of width Bandwidth
// (see jumpReLU).
func (t *Trainer) pass(x []float32, rows int, grad bool) (StepStats, [][]float32) {
	return t.passTo(x, x, rows, grad)
}

// passTo is pass with target y [rows, d_out] (a transcoder's; x for an
// SAE).
func (t *Trainer) passTo(x, y []float32, rows int, grad bool) (StepStats, [][]float32) {
	o := &t.Opt
	d, n, B, do := o.DIn, o.DSAE, rows, o.outWidth()
	w := t.work(B)
	copy(w.s, x)
	if !o.NoBDecInput {
		for r := range B {
			for j := range d {
				w.s[r*d+j] -= t.BDec[j]
			}
		}
	}
	sgemm.MatMul(w.s, t.WEnc, w.pre, 1, B, n, d, false)
	addRows(w.pre, t.BEnc, B, n)

	// Activation: u is what multiplies W_dec's rows; active marks u ≠ 0.
	clear(w.u)
	var nu, theta []float32 // decoder-row norms; jumprelu's θ
	switch o.Arch {
	case Standard:
		nu = rowNorms(t.WDec, n, do)
		for i, v := range w.pre {
			if v > 0 {
				w.u[i] = v
			}
		}
	case JumpReLU:
		theta = t.Theta
		for r := range B {
			for i := range n {
				if v := w.pre[r*n+i]; v > theta[i] {
					w.u[r*n+i] = v
				}
			}
		}
	case TopK:
		nu = rowNorms(t.WDec, n, do)
		copy(w.h, w.pre)
		scaleCols(w.h, nu, B, n)
		keep := w.keep[:0]
		keep = append(keep, make([]int32, o.K)...)
		for r := range B {
			topK(w.h[r*n:(r+1)*n], keep, w.idx[:n])
			for _, i := range keep {
				if v := w.pre[r*n+int(i)]; v > 0 {
					w.u[r*n+int(i)] = v
				}
			}
		}
		w.keep = keep
	case BatchTopK, Matryoshka:
		nu = rowNorms(t.WDec, n, do)
		copy(w.h, w.pre)
		scaleCols(w.h, nu, B, n)
		relu(w.h)
		keep := make([]int32, min(o.K*B, B*n))
		topK(w.h, keep, w.idx[:B*n])
		least := math.Inf(1)
		for _, i := range keep {
			if hv := w.h[i]; hv > 0 {
				w.u[i] = w.pre[i]
				least = min(least, float64(hv))
			}
		}
		if grad && !math.IsInf(least, 1) {
			t.Threshold = (1-o.ThresholdLR)*t.Threshold + o.ThresholdLR*least
		}
	}

	su := t.sparse(&w.su, w.u, B)
	t.decode(su, w.u, w.xhat, B)
	t.addSkip(x, w.xhat, B)
	var st StepStats
	var sse, tot float64
	mean := make([]float64, do)
	for r := range B {
		for j := range do {
			mean[j] += float64(y[r*do+j]) / float64(B)
		}
	}
	for i := range w.r {
		w.r[i] = w.xhat[i] - y[i]
		sse += float64(w.r[i]) * float64(w.r[i])
		dv := float64(y[i]) - mean[i%do]
		tot += dv * dv
	}
	st.MSE = sse / float64(B)
	st.ExplainedVar = 1 - sse/tot

	// Firing statistics (SAELens counts a feature as fired when its
	// activation is non-zero anywhere in the batch).
	clear(w.fired)
	active := 0
	for r := range B {
		for i, v := range w.u[r*n : (r+1)*n] {
			if v != 0 {
				active++
				w.fired[i] = true
				if grad {
					t.Fired[i]++
				}
			}
		}
	}
	st.L0 = float64(active) / float64(B)
	dead := make([]bool, n)
	numDead := 0
	for i := range n {
		dead[i] = int(t.SinceFired[i]) > o.DeadWindow
		if dead[i] {
			numDead++
		}
	}
	if grad {
		t.Samples += float64(B)
		for i, f := range w.fired {
			if f {
				t.SinceFired[i] = 0
			} else if t.SinceFired[i] < math.MaxInt32 {
				t.SinceFired[i]++
			}
		}
	}

	// Gradients start from the reconstruction: dL/dx̂ = 2(x̂ − x)/B.
	var g [][]float32
	var gWenc, gWdec, gBenc, gBdec, gTheta []float32
	if grad {
		gWenc, gWdec, gBenc, gBdec = make([]float32, d*n), make([]float32, n*do), make([]float32, n), make([]float32, do)
		for i, v := range w.r {
			w.dx[i] = 2 * v / float32(B)
		}
		t.backDecode(su, w.u, w.dx, w.gu, gWdec, gBdec, B)
	}

	coef := t.coef()
	switch o.Arch {
	case Standard:
		var l1 float64
		for r := range B {
			for i, v := range w.u[r*n : (r+1)*n] {
				l1 += float64(v) * float64(nu[i])
			}
		}
		st.Aux = coef * l1 / float64(B)
		if grad {
			c := float32(coef / float64(B))
			colSum := make([]float64, n)
			for r := range B {
				for i := range n {
					if w.pre[r*n+i] > 0 {
						w.gpre[r*n+i] = w.gu[r*n+i] + c*nu[i]
						colSum[i] += float64(w.u[r*n+i])
					} else {
						w.gpre[r*n+i] = 0
					}
				}
			}
			for i := range n {
				if colSum[i] == 0 {
					continue
				}
				f := c * float32(colSum[i]) / nu[i]
				for j := range do {
					gWdec[i*do+j] += f * t.WDec[i*do+j]
				}
			}
		}
	case JumpReLU:
		st.Aux, gTheta = t.jumpReLU(B, dead, grad, gWdec)
	default: // the TopK family
		if grad {
			for k, v := range w.u {
				if v != 0 {
					w.gpre[k] = w.gu[k]
				} else {
					w.gpre[k] = 0
				}
			}
		}
		if o.Arch == Matryoshka {
			st.Aux += t.matryoshka(y, B, grad, gWdec, gBdec)
		}
		if half := d / 2; numDead > 0 && half > 0 && o.AuxKCoef > 0 {
			st.Aux += t.auxK(B, dead, numDead, nu, grad, gWdec, gBdec)
		}
	}
	st.Loss = st.MSE + st.Aux
	if !grad {
		return st, nil
	}

	// Encoder: pre = s·W_enc + b_enc, s = x − b_dec.
	if sg := t.sparse(&w.sg, w.gpre, B); sg != nil {
		clear(w.tmpND)
		sg.outerAdd(w.s, w.tmpND, d) // gW_encᵀ
		transpose(w.tmpND, gWenc, n, d)
	} else {
		transpose(w.s, w.sT, B, d)
		sgemm.MatMul(w.sT, w.gpre, gWenc, 1, d, n, B, false)
	}
	for r := range B {
		for i := range n {
			gBenc[i] += w.gpre[r*n+i]
		}
	}
	if !o.NoBDecInput {
		// Σ_rows gpre·W_encᵀ = W_enc·(Σ_rows gpre): a product with b_enc's
		// gradient instead of a [B, d] one.
		for j := range d {
			gBdec[j] -= sgemm.Dot(t.WEnc[j*n:(j+1)*n], gBenc)
		}
	}
	g = [][]float32{gWenc, gWdec, gBenc, gBdec}
	if gTheta != nil {
		g = append(g, gTheta)
	}
	if t.WSkip != nil {
		g = append(g, t.skipGrad(x, B))
	}
	return st, g
}

// sparse returns sp rebuilt from m [B, d_sae] when m is sparse enough for
// the sparse products to pay (and the trainer is not held to dense ones),
// else nil: the callers then use sgemm.
func (t *Trainer) sparse(sp *sparseRows, m []float32, B int) *sparseRows {
	if t.dense || !sp.scan(m, B, t.Opt.DSAE) {
		return nil
	}
	return sp
}

// decode writes out = a·W_dec + b_dec for a [B, d_sae] (sp: a's nonzeros,
// or nil).
func (t *Trainer) decode(sp *sparseRows, a, out []float32, B int) {
	d, n := t.Opt.outWidth(), t.Opt.DSAE
	if sp != nil {
		sp.mul(t.WDec, out, d)
	} else {
		sgemm.MatMul(a, t.WDec, out, 1, B, d, n, false)
	}
	addRows(out, t.BDec, B, d)
}

// backDecode back-propagates dx = dL/dx̂ [B, d] through x̂ = u·W_dec + b_dec:
// gu = dx·W_decᵀ, gWdec += uᵀ·dx, gBdec += Σ_rows dx. With sp (u's
// nonzeros) gu is computed only where u is active, zero elsewhere, which is
// all the ReLU and TopK backward reads; JumpReLU's threshold reads gu at
// inactive features too, so it gets every entry.
func (t *Trainer) backDecode(sp *sparseRows, u, dx, gu, gWdec, gBdec []float32, B int) {
	d, n := t.Opt.outWidth(), t.Opt.DSAE
	if sp != nil && t.Opt.Arch != JumpReLU {
		clear(gu)
		sp.gradAt(dx, t.WDec, gu, d, false)
	} else {
		sgemm.MatMul(dx, t.WDec, gu, 1, B, n, d, true)
	}
	t.decoderParamGrads(sp, u, dx, gWdec, gBdec, B)
}

// decoderParamGrads adds x̂ = u·W_dec + b_dec's parameter gradients for
// dL/dx̂ = dx: gWdec += uᵀ·dx, gBdec += Σ_rows dx (sp: u's nonzeros, or
// nil).
func (t *Trainer) decoderParamGrads(sp *sparseRows, u, dx, gWdec, gBdec []float32, B int) {
	d, n := t.Opt.outWidth(), t.Opt.DSAE
	w := &t.w
	if sp != nil {
		sp.outerAdd(dx, gWdec, d)
	} else {
		transpose(u, w.uT, B, n)
		sgemm.MatMul(w.uT, dx, w.tmpND, 1, n, d, B, false)
		for i, v := range w.tmpND[:n*d] {
			gWdec[i] += v
		}
	}
	for r := range B {
		for j := range d {
			gBdec[j] += dx[r*d+j]
		}
	}
}

// gradAtActive adds e·W_decᵀ to gpre where a [B, d_sae] is nonzero: the
// backward of a reconstruction from a (a prefix of u, AuxK's dead features).
func (t *Trainer) gradAtActive(sp *sparseRows, a, e []float32, B int) {
	d, n := t.Opt.outWidth(), t.Opt.DSAE
	w := &t.w
	if sp != nil {
		sp.gradAt(e, t.WDec, w.gpre, d, true)
		return
	}
	sgemm.MatMul(e, t.WDec, w.h, 1, B, n, d, true)
	for k, v := range a {
		if v != 0 {
			w.gpre[k] += w.h[k]
		}
	}
}

// matryoshka adds the reconstruction losses of the prefixes W_dec[:w] for
// every width but the last (the full loss is already counted) and, with
// grad, their gradients.
func (t *Trainer) matryoshka(x []float32, B int, grad bool, gWdec, gBdec []float32) float64 {
	n := t.Opt.DSAE
	w := &t.w
	var loss float64
	for _, width := range t.Opt.Widths[:len(t.Opt.Widths)-1] {
		for r := range B {
			copy(w.a[r*n:r*n+width], w.u[r*n:r*n+width])
			clear(w.a[r*n+width : (r+1)*n])
		}
		sa := t.sparse(&w.sa, w.a, B)
		t.decode(sa, w.a, w.e, B)
		var sse float64
		for i := range w.e {
			v := w.e[i] - x[i]
			sse += float64(v) * float64(v)
			w.e[i] = 2 * v / float32(B)
		}
		loss += sse / float64(B)
		if grad {
			// The prefix's dL/du, added to gpre where u is active (its mask).
			t.gradAtActive(sa, w.a, w.e, B)
			t.decoderParamGrads(sa, w.a, w.e, gWdec, gBdec, B)
		}
	}
	return loss
}

// auxK is SAELens's TopK auxiliary loss: the top k_aux = d_in/2 dead
// features by scaled pre-activation reconstruct the residual x − x̂
// (detached), scaled by min(dead/k_aux, 1).
func (t *Trainer) auxK(B int, dead []bool, numDead int, nu []float32, grad bool, gWdec, gBdec []float32) float64 {
	o := &t.Opt
	n := o.DSAE
	w := &t.w
	half := o.DIn / 2
	scale := min(float64(numDead)/float64(half), 1)
	kAux := min(half, numDead)
	keep := make([]int32, kAux)
	clear(w.a)
	ninf := float32(math.Inf(-1))
	row := make([]float32, n)
	for r := range B {
		for i := range n {
			if dead[i] {
				row[i] = w.pre[r*n+i] * nu[i]
			} else {
				row[i] = ninf
			}
		}
		topK(row, keep, w.idx[:n])
		for _, i := range keep {
			w.a[r*n+int(i)] = w.pre[r*n+int(i)] // (pre·ν)/ν
		}
	}
	// e = a·W_dec + b_dec − (x − x̂) = a·W_dec + b_dec + r.
	sa := t.sparse(&w.sa, w.a, B)
	t.decode(sa, w.a, w.e, B)
	var sse float64
	res := w.r
	if t.frozenResidual != nil {
		res = t.frozenResidual
	}
	for i := range w.e {
		w.e[i] += res[i]
		sse += float64(w.e[i]) * float64(w.e[i])
	}
	c := o.AuxKCoef * scale
	if grad {
		f := float32(2 * c / float64(B))
		for i := range w.e {
			w.e[i] *= f
		}
		t.gradAtActive(sa, w.a, w.e, B)
		t.decoderParamGrads(sa, w.a, w.e, gWdec, gBdec, B)
	}
	return c * sse / float64(B)
}

// transpose writes src [rows, cols] into dst [cols, rows].
func transpose(src, dst []float32, rows, cols int) {
	const blk = 32
	for r0 := 0; r0 < rows; r0 += blk {
		for c0 := 0; c0 < cols; c0 += blk {
			for r := r0; r < min(r0+blk, rows); r++ {
				for c := c0; c < min(c0+blk, cols); c++ {
					dst[c*rows+r] = src[r*cols+c]
				}
			}
		}
	}
}

// jumpReLU returns the JumpReLU sparsity loss (Opt.SparsityLoss's mode)
// plus the pre-activation loss of dead features and, with grad, writes
// gpre from w.gu and returns θ's gradient, as SAELens's autograd
// functions give them (ε = Bandwidth, rect(z) = [|z| < ½], c the
// coefficient, s_bi = [pre_bi > θᵢ], f = pre·s):
//
//   - JumpReLU: ∂f/∂pre = s, and ∂L/∂θᵢ = −Σ_b (θᵢ/ε)·rect((pre−θ)/ε)·∂L/∂f,
//     the same term added to ∂L/∂pre when STEToInput.
//   - step: c·mean_b Σᵢ s_bi; quadratic: c·mean_b 2/T·(Σᵢ s_bi − T)²; the
//     step's STE gives θ −(1/ε)·rect·∂L/∂s (and pre the opposite with
//     STEToInput).
//   - tanh: c·mean_b Σᵢ tanh(k·f_bi·‖W_dec,ᵢ‖), through f's own backward
//     (so inactive features in the window move θ) and the decoder norms.
//   - pre-activation: PreActCoef·mean_b Σ_dead ReLU(θᵢ − pre_bi)·‖W_dec,ᵢ‖,
//     an ordinary derivative in pre, θ and W_dec.
func (t *Trainer) jumpReLU(B int, dead []bool, grad bool, gWdec []float32) (float64, []float32) {
	o := &t.Opt
	d, n := o.outWidth(), o.DSAE
	w := &t.w
	theta := t.Theta
	c := t.coef()
	eps := float32(o.Bandwidth)
	var nu []float32
	var gNu []float64
	if o.SparsityLoss == "tanh" || o.PreActCoef > 0 {
		nu = rowNorms(t.WDec, n, d)
		gNu = make([]float64, n)
	}
	var loss float64
	// gStep[b] is ∂L/∂s_bi (the same for every i of a row).
	gStep := make([]float64, B)
	switch o.SparsityLoss {
	case "tanh":
		kt := float32(o.TanhScale)
		cb := float32(c / float64(B))
		for r := range B {
			for i := range n {
				k := r*n + i
				th := float32(math.Tanh(float64(kt * w.u[k] * nu[i])))
				loss += c * float64(th) / float64(B)
				if grad {
					dth := cb * (1 - th*th)
					w.gu[k] += dth * kt * nu[i]
					gNu[i] += float64(dth * kt * w.u[k])
				}
			}
		}
	default: // step, quadratic
		for r := range B {
			l0 := 0
			for i := range n {
				if w.pre[r*n+i] > theta[i] {
					l0++
				}
			}
			if o.SparsityLoss == "quadratic" {
				dv := float64(l0) - o.TargetL0
				loss += c * 2 / o.TargetL0 * dv * dv / float64(B)
				gStep[r] = c / float64(B) * 4 / o.TargetL0 * dv
			} else {
				loss += c * float64(l0) / float64(B)
				gStep[r] = c / float64(B)
			}
		}
	}
	var preAct float64
	cp := o.PreActCoef / float64(B)
	var gTheta []float64
	if grad {
		gTheta = make([]float64, n)
	}
	if o.PreActCoef > 0 {
		for r := range B {
			for i := range n {
				if v := theta[i] - w.pre[r*n+i]; dead[i] && v > 0 {
					preAct += float64(v) * float64(nu[i])
					if grad {
						gTheta[i] += cp * float64(nu[i])
						gNu[i] += cp * float64(v)
					}
				}
			}
		}
		loss += o.PreActCoef * preAct / float64(B)
	}
	if !grad {
		return loss, nil
	}
	for r := range B {
		for i := range n {
			k := r*n + i
			gp := float32(0)
			if w.pre[k] > theta[i] {
				gp = w.gu[k]
			}
			if z := (w.pre[k] - theta[i]) / eps; z > -0.5 && z < 0.5 {
				ste := theta[i] / eps * w.gu[k]    // JumpReLU
				steStep := float32(gStep[r]) / eps // the L0 step
				gTheta[i] -= float64(ste) + float64(steStep)
				if o.STEToInput {
					gp += ste + steStep
				}
			}
			if o.PreActCoef > 0 && dead[i] && theta[i] > w.pre[k] {
				gp -= float32(cp) * nu[i]
			}
			w.gpre[k] = gp
		}
	}
	if gNu != nil {
		for i := range n {
			if gNu[i] == 0 || nu[i] == 0 {
				continue
			}
			f := float32(gNu[i]) / nu[i]
			for j := range d {
				gWdec[i*d+j] += f * t.WDec[i*d+j]
			}
		}
	}
	g := make([]float32, n)
	for i, v := range gTheta {
		g[i] = float32(v)
	}
	return loss, g
}
