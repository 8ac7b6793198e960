package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// quota is a writer on a disk with room for n more bytes: the write that
// crosses the limit is cut short with ENOSPC, as write(2) on a full disk.
type quota struct {
	w io.Writer
	n int
}

func (q *quota) Write(p []byte) (int, error) {
	if len(p) <= q.n {
		q.n -= len(p)
		return q.w.Write(p)
	}
	k, err := q.w.Write(p[:q.n])
	q.n -= k
	if err == nil {
		err = syscall.ENOSPC
	}
	return k, err
}

// withQuota makes every file train writes from now on fail after n bytes,
// until the test ends.
func withQuota(t *testing.T, n int) {
	t.Helper()
	old := writeHook
	writeHook = func(w io.Writer) io.Writer { return &quota{w: w, n: n} }
	t.Cleanup(func() { writeHook = old })
}

// ckptRun is a run whose checkpoint is written every two steps.
func ckptRun(t *testing.T, dir string) (map[string]any, Task, Options) {
	t.Helper()
	cfg, err := tinySpec("gpt2").Config()
	if err != nil {
		t.Fatal(err)
	}
	o := runOpts(dir, 6)
	o.CheckpointEvery = 2
	return cfg, &Induction{Seed: 3, Batch: 4, Seq: 8, VocabSize: 11}, o
}

// sameFiles fails unless dirs a and b hold the same bytes in the run's
// output files.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	for _, f := range []string{"model.safetensors", CheckpointFile, "config.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: resumed run differs from the uninterrupted one (%d vs %d bytes)", f, len(x), len(y))
		}
	}
}

// TestCheckpointDiskFull: the disk fills while the step-4 checkpoint is
// written. The run stops with an error that names the file and the cause
// and says which checkpoint survives; that one (step 2) is byte for byte
// what was written before, no temporary file is left behind, and resuming
// it once there is room reaches the uninterrupted run's bits.
func TestCheckpointDiskFull(t *testing.T) {
	whole, full := t.TempDir(), t.TempDir()
	cfg, task, o := ckptRun(t, whole)
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(full, CheckpointFile)
	// The file (66 KiB) goes out in 64 KiB writes: the first fails, or the last.
	for _, room := range []int{0, -1} { // -1: one byte short
		t.Run(fmt.Sprintf("room %d", room), func(t *testing.T) {
			os.RemoveAll(full)
			var good []byte
			o.Out, o.Resume = full, false
			o.Log = func(e Event) {
				if e.Kind == "checkpoint" && e.Step == 2 {
					good, _ = os.ReadFile(ckpt)
					withQuota(t, map[bool]int{true: len(good) - 1, false: room}[room < 0])
				}
			}
			_, err := Run(context.Background(), cfg, task, o)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), ckpt) ||
				!strings.Contains(err.Error(), "last good checkpoint, step 2") {
				t.Fatalf("want a no-space error naming %s and the step-2 checkpoint, got %v", ckpt, err)
			}
			t.Log(err)
			if now, _ := os.ReadFile(ckpt); len(good) == 0 || !bytes.Equal(now, good) {
				t.Fatalf("the step-2 checkpoint changed: %d bytes, was %d", len(now), len(good))
			}
			if st, err := ReadRunState(ckpt); err != nil || st.Step != 2 {
				t.Fatalf("checkpoint after the failure: step %d, %v", st.Step, err)
			}
			if names, _ := filepath.Glob(filepath.Join(full, ".*")); len(names) > 0 {
				t.Errorf("temporary files left behind: %v", names)
			}
			writeHook = func(w io.Writer) io.Writer { return w }
			o.Log, o.Resume = nil, true
			if _, err := Run(context.Background(), cfg, task, o); err != nil {
				t.Fatal(err)
			}
			sameFiles(t, whole, full)
		})
	}
}

// TestModelDirDiskFull: a full disk while the final model is exported is
// an error naming model.safetensors; the last checkpoint holds the
// finished run, and resuming it writes the model.
func TestModelDirDiskFull(t *testing.T) {
	whole, full := t.TempDir(), t.TempDir()
	cfg, task, o := ckptRun(t, whole)
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	o.Out = full
	o.Log = func(e Event) {
		if e.Kind == "checkpoint" && e.Step == 6 {
			withQuota(t, 1000)
		}
	}
	_, err := Run(context.Background(), cfg, task, o)
	if want := filepath.Join(full, "model.safetensors"); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), want) {
		t.Fatalf("want a no-space error naming %s, got %v", want, err)
	}
	if _, err := os.Stat(filepath.Join(full, "model.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a partial model.safetensors is in place: %v", err)
	}
	writeHook = func(w io.Writer) io.Writer { return w }
	o.Log, o.Resume = nil, true
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, full)
}

// TestInterruptMidStep: Ctrl-C while step 4 runs (here: while its batch is
// drawn) lets the step finish, checkpoints step 4, and the resumed run
// reaches the uninterrupted run's bits.
func TestInterruptMidStep(t *testing.T) {
	whole, parts := t.TempDir(), t.TempDir()
	cfg, task, o := ckptRun(t, whole)
	o.CheckpointEvery = 0
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Out = parts
	_, err := Run(ctx, cfg, &cancelAt{Task: task, step: 3, cancel: cancel}, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted at step 4") {
		t.Fatalf("interrupted run: %v", err)
	}
	if st, err := ReadRunState(filepath.Join(parts, CheckpointFile)); err != nil || st.Step != 4 {
		t.Fatalf("checkpoint of the interrupted run: step %d, %v", st.Step, err)
	}
	o.Resume = true
	if _, err := Run(context.Background(), cfg, task, o); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, parts)
}

// cancelAt cancels its context when the batch of step (0-based) is drawn.
type cancelAt struct {
	Task
	step   int
	cancel func()
}

func (c *cancelAt) Train(step int) Batch {
	if step == c.step {
		c.cancel()
	}
	return c.Task.Train(step)
}
