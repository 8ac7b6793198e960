// Package progress draws a one-line progress bar on a terminal: done and
// total, rate and ETA. It draws nothing when its writer is not a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar is a progress bar. Its methods are safe for concurrent use; a nil or
// quiet Bar does nothing.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	unit  string
	total int64
	done  int64
	start time.Time
	last  time.Time
	width int
	drawn bool
	now   func() time.Time
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New starts a bar counting unit ("tokens") up to total (0: unknown). It is
// quiet unless w is a terminal.
func New(w io.Writer, total int64, unit string) *Bar {
	return newBar(w, total, unit, !IsTerminal(w))
}

// NewForced draws on w even when it is not a terminal (tests, logs).
func NewForced(w io.Writer, total int64, unit string) *Bar { return newBar(w, total, unit, false) }

func newBar(w io.Writer, total int64, unit string, quiet bool) *Bar {
	b := &Bar{w: w, quiet: quiet, unit: unit, total: total, now: time.Now, width: 80}
	if f, ok := w.(*os.File); ok && !quiet {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			b.width = cols
		}
	}
	b.start = b.now()
	return b
}

// SetTotal changes the total (an estimate may improve as work goes on).
func (b *Bar) SetTotal(total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Add counts n more units done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.Set(-1, n)
}

// Set sets done (when done >= 0) or adds delta to it, and redraws at most
// ten times a second.
func (b *Bar) Set(done, delta int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if done >= 0 {
		b.done = done
	} else {
		b.done += delta
	}
	if b.quiet {
		return
	}
	now := b.now()
	if b.drawn && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	b.draw(now, false)
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.quiet || !b.drawn {
		return
	}
	b.draw(b.now(), true)
	fmt.Fprintln(b.w)
}

// Clear erases the bar (before other output).
func (b *Bar) Clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.quiet || !b.drawn {
		return
	}
	fmt.Fprintf(b.w, "\r\x1b[K")
	b.drawn = false
}

// Line renders the bar's text (without the bar graphic) for a given state.
func Line(done, total int64, unit string, elapsed time.Duration) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	var sb strings.Builder
	if total > 0 {
		fmt.Fprintf(&sb, "%s/%s %s", Human(done), Human(total), unit)
		fmt.Fprintf(&sb, " %3.0f%%", 100*float64(min(done, total))/float64(total))
	} else {
		fmt.Fprintf(&sb, "%s %s", Human(done), unit)
	}
	fmt.Fprintf(&sb, "  %s/s", Human(int64(rate)))
	if total > 0 && rate > 0 && done < total {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, "  ETA %s", Duration(eta))
	} else {
		fmt.Fprintf(&sb, "  %s", Duration(elapsed))
	}
	return sb.String()
}

func (b *Bar) draw(now time.Time, final bool) {
	text := Line(b.done, b.total, b.unit, now.Sub(b.start))
	barW := b.width - len(text) - 4
	var sb strings.Builder
	sb.WriteString("\r")
	if b.total > 0 && barW >= 10 {
		barW = min(barW, 40)
		fill := int(float64(barW) * float64(min(b.done, b.total)) / float64(b.total))
		sb.WriteString("\x1b[32m")
		sb.WriteString(strings.Repeat("█", fill))
		sb.WriteString("\x1b[2m")
		sb.WriteString(strings.Repeat("░", barW-fill))
		sb.WriteString("\x1b[0m ")
	}
	sb.WriteString(text)
	sb.WriteString("\x1b[K")
	b.w.Write([]byte(sb.String()))
	b.drawn = true
}

// Human formats a count with k/M/G suffixes.
func Human(n int64) string {
	f := float64(n)
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", f/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprint(n)
}

// Duration formats d as 1h02m, 3m04s or 5.2s.
func Duration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
