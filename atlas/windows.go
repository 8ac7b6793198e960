package atlas

// Examples point into token windows, which are stored once (the windows
// table): a GPT-2-shaped atlas keeps 46 examples for each of 36,864 units,
// mostly in the same few thousand windows.

// winID is the id of the window a position key points into.
func winID(key uint64) uint64 { return key >> posBits }

// window is one corpus window's tokens and each token's document. In an
// atlas upgraded from schema 1 only the examples' spans are known; other
// positions hold -1.
type window struct {
	ids  []int32
	docs []int64
}

// windowStore holds the windows that examples point into, and the windows
// of the batches since the last checkpoint (which may become examples).
// It also remembers what the database holds, so that a checkpoint writes
// only the difference.
type windowStore struct {
	byID   map[uint64]window
	stored map[uint64]uint64 // window id → its row's checksum term
	toks   map[int32]bool    // token ids in the tokens table
	// written is about how many bytes the last checkpoint wrote (rows of
	// units, examples and windows), the measure of its cost.
	written int64
}

func newWindowStore() *windowStore {
	return &windowStore{byID: map[uint64]window{}, stored: map[uint64]uint64{}, toks: map[int32]bool{}}
}

// addBatch keeps a batch's windows.
func (w *windowStore) addBatch(bt *batch) {
	for i := range bt.ids {
		w.byID[winID(bt.keys[i*bt.t])] = window{ids: bt.ids[i], docs: bt.docs[i]}
	}
}

// length is the length of the window that key points into (0: unknown).
func (w *windowStore) length(key uint64) int { return len(w.byID[winID(key)].ids) }

// inUse lists the windows that the hooks' examples point into.
func inUse(hooks []*hookState) map[uint64]bool {
	use := map[uint64]bool{}
	for _, hs := range hooks {
		for u := 0; u < hs.spec.Width; u++ {
			hs.eachGroup(u, func(_ string, _ int32, h []sample) {
				for i := range h {
					use[winID(h[i].key)] = true
				}
			})
		}
	}
	return use
}
