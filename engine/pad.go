package engine

// PadRight makes one Request batch of sequences: returned as they are
// with no mask when their lengths agree, else right-padded with token 0 to
// the longest under a mask. Position i of each row is then that
// sequence's token i, and causal attention and the mask keep the padding
// out of the real positions (their values match the sequence run alone,
// within float rounding).
func PadRight(seqs [][]int32) (ids [][]int32, mask [][]bool) {
	n, same := 0, true
	for _, s := range seqs {
		same = same && len(s) == len(seqs[0])
		n = max(n, len(s))
	}
	if same {
		return seqs, nil
	}
	ids, mask = make([][]int32, len(seqs)), make([][]bool, len(seqs))
	for i, s := range seqs {
		ids[i], mask[i] = make([]int32, n), make([]bool, n)
		copy(ids[i], s)
		for j := range s {
			mask[i][j] = true
		}
	}
	return ids, mask
}
