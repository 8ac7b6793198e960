package sgemm

// kernelGo is the portable micro-kernel: the same packed layout and
// contract as the assembly one, for other CPUs and for testing it.
func kernelGo(k int, a, b, c []float32, ldc int, acc bool) {
	var t [mr * nr]float32
	for p := range k {
		ap, bp := a[p*mr:p*mr+mr], b[p*nr:p*nr+nr]
		for i, av := range ap {
			row := t[i*nr : i*nr+nr]
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
	}
	for i := range mr {
		row := c[i*ldc : i*ldc+nr]
		if acc {
			for j := range row {
				row[j] += t[i*nr+j]
			}
		} else {
			copy(row, t[i*nr:i*nr+nr])
		}
	}
}
