package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		el          time.Duration
		want        string
	}{
		{500, 1000, time.Second, "500/1000 tokens  50%  500/s  ETA 1.0s"},
		{50000, 0, 2 * time.Second, "50.0k tokens  25.0k/s  2.0s"},
		{3_000_000, 6_000_000, time.Minute, "3.00M/6.00M tokens  50%  50.0k/s  ETA 1m00s"},
	} {
		if got := Line(tc.done, tc.total, "tokens", tc.el); got != tc.want {
			t.Errorf("Line(%d, %d) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
}

func TestQuietWhenNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 100, "tokens")
	b.Add(50)
	b.Done()
	if buf.Len() != 0 {
		t.Fatalf("wrote %q to a non-terminal", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b = New(f, 100, "tokens")
	b.Add(10)
	b.Done()
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Fatal("wrote to a plain file")
	}
	if IsTerminal(&buf) {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestRedrawRate(t *testing.T) {
	var buf bytes.Buffer
	b := NewForced(&buf, 1000, "tokens")
	now := time.Unix(0, 0)
	b.now = func() time.Time { return now }
	b.start = now
	for i := 0; i < 100; i++ {
		now = now.Add(time.Millisecond) // 100 updates within 0.1 s
		b.Add(10)
	}
	b.Done()
	draws := strings.Count(buf.String(), "\r")
	if draws > 3 {
		t.Fatalf("%d redraws for 0.1 s of updates", draws)
	}
	if !strings.Contains(buf.String(), "1000/1000 tokens 100%") {
		t.Fatalf("final line missing: %q", buf.String())
	}
}

// TestStateLine: a resumed run's rate and ETA count only its own work; a
// second count shows its own rate; a status replaces rate and ETA.
func TestStateLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    State
		want string
	}{
		{"resumed: 400 of 1000 done before, 100 in 10 s", State{Done: 500, Total: 1000, Base: 400, Unit: "tokens", Elapsed: 10 * time.Second},
			"500/1000 tokens  50%  10/s  ETA 50.0s"},
		{"bytes with tokens", State{Done: 4_200_000, Total: 12_000_000, Base: 1_200_000, Unit: "bytes",
			Count: Count{N: 490_500, Base: 100_500, Unit: "tokens"}, Elapsed: 30 * time.Second},
			"4.20M/12.00M bytes  35%  490.5k tokens  13.0k tokens/s  ETA 1m18s"},
		{"tokenizing", State{Total: 12_000_000, Unit: "bytes", Status: "tokenizing big.txt (12.00M bytes)", StatusAge: 3200 * time.Millisecond, Spin: 32},
			"0/12.00M bytes   0%  ⠹ tokenizing big.txt (12.00M bytes) 3.2s"},
	} {
		if got := tc.s.Line(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestStatusRedraws: a status is redrawn with its age while nothing else
// moves, and stops with Done.
func TestStatusRedraws(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	b := NewForced(lockedWriter{&mu, &buf}, 100, "bytes")
	b.Status("tokenizing x.txt")
	time.Sleep(350 * time.Millisecond)
	b.Status("")
	b.Done()
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "tokenizing x.txt"); n < 3 {
		t.Fatalf("status drawn %d times in 0.35 s: %q", n, out)
	}
	time.Sleep(150 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if buf.String() != out {
		t.Fatal("redrawn after Done")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
