package atlas

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCheckpointGPT2Shaped times checkpoints of a GPT-2-small-shaped
// state (12 hooks × 3072 units, default settings, 20 batches of 8×128
// tokens): the first one (every unit written), then one after a further
// batch (the units whose examples changed).
func BenchmarkCheckpointGPT2Shaped(b *testing.B) {
	st := newBenchState(12, 3072, 2)
	for i := 0; i < 20; i++ {
		st.step()
	}
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		db, err := openSQLite(filepath.Join(dir, "ck.db"))
		if err != nil {
			b.Fatal(err)
		}
		ws := st.windows()
		for _, hs := range st.bd.hooks {
			hs.allDirty = true
		}
		meta := &Meta{SchemaVersion: SchemaVersion, Settings: *st.bd.set}
		t0, c0 := time.Now(), ProcessCPU()
		if err := writeState(db, meta, st.bd.hooks, ws, progressRow{}, func(int32) string { return "x" }, true); err != nil {
			b.Fatal(err)
		}
		full, fullCPU := time.Since(t0), ProcessCPU()-c0
		st.step()
		ws.addBatch(st.last)
		dirty := 0
		for _, hs := range st.bd.hooks {
			for _, d := range hs.dirty {
				if d {
					dirty++
				}
			}
		}
		t0, c0 = time.Now(), ProcessCPU()
		if err := writeState(db, meta, st.bd.hooks, ws, progressRow{}, func(int32) string { return "x" }, false); err != nil {
			b.Fatal(err)
		}
		b.Logf("first checkpoint %.2fs (CPU %.2fs); next, %d of %d units dirty: %.2fs (CPU %.2fs)", full.Seconds(), fullCPU.Seconds(),
			dirty, 12*3072, time.Since(t0).Seconds(), (ProcessCPU() - c0).Seconds())
		db.Close()
		removeDB(filepath.Join(dir, "ck.db"))
	}
}
