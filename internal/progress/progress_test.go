package progress

import (
	"bytes"
	"os"
	"strings"
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
