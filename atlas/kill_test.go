package atlas

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glia-dev/glia/atlas/atlastest"
)

// TestMain doubles as the child build process of TestResumeAfterSIGKILL.
func TestMain(m *testing.M) {
	if spec := os.Getenv("GLIA_ATLAS_CHILD"); spec != "" {
		os.Exit(childBuild(spec))
	}
	if spec := os.Getenv("GLIA_ATLAS_SLICE"); spec != "" {
		os.Exit(sliceBuild(spec))
	}
	os.Exit(m.Run())
}

func childOpts(t testing.TB, corpusDir, out string) BuildOptions {
	o := testOpts(t, out, corpusDir)
	o.Hooks = "blocks.*"
	o.CheckpointBatches = 1
	return o
}

type childTB struct{ testing.TB }

func (childTB) Helper()                   {}
func (childTB) Fatal(args ...any)         { fmt.Fprintln(os.Stderr, args...); os.Exit(3) }
func (childTB) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(3) }

func childBuild(spec string) int {
	parts := strings.Split(spec, "|")
	m := atlastest.New(2, 24)
	m.Delay = 3 * time.Millisecond
	o := childOpts(childTB{}, parts[0], parts[1])
	o.Resume = true
	o.OnCheckpoint = func(tokens, windows int64) { fmt.Printf("checkpoint %d\n", tokens) }
	if _, err := Build(context.Background(), m, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// TestResumeAfterSIGKILL kills real build processes at varied moments (during
// forward passes and during checkpoint transactions), resumes each time,
// and checks the final database against an uninterrupted build.
func TestResumeAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	c := writeCorpus(t, filepath.Join(dir, "c"), 9, 3, 40, 40)
	full := filepath.Join(dir, "full.db")
	mustBuild(t, atlastest.New(2, 24), childOpts(t, c, full))

	out := filepath.Join(dir, "killed.db")
	kills := 0
	for round := 0; round < 12; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GLIA_ATLAS_CHILD="+c+"|"+out)
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		seen, finished := 0, false
		target := 1 + round%4
		for sc.Scan() {
			line := sc.Text()
			if line == "done" {
				finished = true
				break
			}
			seen++
			if seen == target {
				// Vary the moment: right away (inside the next forward or
				// checkpoint) or a little later.
				time.Sleep(time.Duration(round%3) * 2 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
				kills++
				break
			}
		}
		for sc.Scan() {
		}
		err := cmd.Wait()
		if finished {
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, stderr.String())
			}
			break
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, stderr.String())
			}
			break // finished before the kill
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills landed", kills)
	}
	// Finish whatever is left.
	o := childOpts(t, c, out)
	o.Resume = true
	mustBuild(t, atlastest.New(2, 24), o)
	t.Logf("%d kills", kills)
	diffDumps(t, dump(t, full, true), dump(t, out, true))
}
