// Package progress draws a one-line progress bar on a terminal: done and
// total, rate and ETA, an optional second count (tokens while the bar
// measures bytes), and a status with a spinner for work that has no count
// yet. Rate and ETA count only this run's work (SetBase). It draws nothing
// when its writer is not a terminal.
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
	base  int64 // done before this run: not in the rate
	count Count
	start time.Time
	last  time.Time
	width int
	drawn bool
	now   func() time.Time

	status     string
	statusFrom time.Time
	stopTick   chan struct{}
}

// Count is a second count shown after the bar's own, with its rate.
type Count struct {
	N, Base int64 // done, and done before this run
	Unit    string
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

// SetBase records work done before this run (a resumed job), so that rate
// and ETA count only what this run does.
func (b *Bar) SetBase(done int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.base = done
	b.mu.Unlock()
}

// SetCount sets the second count.
func (b *Bar) SetCount(c Count) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.count = c
	b.mu.Unlock()
}

// Status shows msg with a spinner and its age in place of rate and ETA,
// redrawn ten times a second until Status("") or Done: for work that moves
// no count, such as tokenizing one large file.
func (b *Bar) Status(msg string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.quiet || msg == b.status {
		return
	}
	b.status, b.statusFrom = msg, b.now()
	if msg != "" && b.stopTick == nil {
		stop := make(chan struct{})
		b.stopTick = stop
		go b.tick(stop)
	} else if msg == "" {
		b.stopTicker()
	}
	b.draw(b.now(), false)
}

func (b *Bar) tick(stop chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			b.mu.Lock()
			b.draw(b.now(), false)
			b.mu.Unlock()
		}
	}
}

// stopTicker ends the status redraws; b.mu is held.
func (b *Bar) stopTicker() {
	if b.stopTick != nil {
		close(b.stopTick)
		b.stopTick = nil
	}
	b.status = ""
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
	b.stopTicker()
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
	return State{Done: done, Total: total, Unit: unit, Elapsed: elapsed}.Line()
}

// State is what a bar shows.
type State struct {
	Done, Total, Base int64 // Base: done before this run
	Unit              string
	Count             Count
	Elapsed           time.Duration // of this run
	Status            string        // shown in place of rate and ETA
	StatusAge         time.Duration
	Spin              int // spinner frame
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Line renders the state's text: counts, then rate and ETA of this run's
// work (or the status).
func (s State) Line() string {
	perSec := func(n int64) float64 {
		if sec := s.Elapsed.Seconds(); sec > 0 && n > 0 {
			return float64(n) / sec
		}
		return 0
	}
	var sb strings.Builder
	if s.Total > 0 {
		fmt.Fprintf(&sb, "%s/%s %s", Human(s.Done), Human(s.Total), s.Unit)
		fmt.Fprintf(&sb, " %3.0f%%", 100*float64(min(s.Done, s.Total))/float64(s.Total))
	} else {
		fmt.Fprintf(&sb, "%s %s", Human(s.Done), s.Unit)
	}
	if s.Status != "" {
		fmt.Fprintf(&sb, "  %s %s %s", spinner[s.Spin%len(spinner)], s.Status, Duration(s.StatusAge))
		return sb.String()
	}
	if s.Count.Unit != "" {
		fmt.Fprintf(&sb, "  %s %s  %s %s/s", Human(s.Count.N), s.Count.Unit, Human(int64(perSec(s.Count.N-s.Count.Base))), s.Count.Unit)
	} else {
		fmt.Fprintf(&sb, "  %s/s", Human(int64(perSec(s.Done-s.Base))))
	}
	if rate := perSec(s.Done - s.Base); s.Total > 0 && rate > 0 && s.Done < s.Total {
		eta := time.Duration(float64(s.Total-s.Done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, "  ETA %s", Duration(eta))
	} else {
		fmt.Fprintf(&sb, "  %s", Duration(s.Elapsed))
	}
	return sb.String()
}

func (b *Bar) draw(now time.Time, final bool) {
	st := State{Done: b.done, Total: b.total, Base: b.base, Unit: b.unit, Count: b.count, Elapsed: now.Sub(b.start)}
	if b.status != "" && !final {
		st.Status, st.StatusAge = b.status, now.Sub(b.statusFrom)
		st.Spin = int(st.StatusAge / (100 * time.Millisecond))
	}
	text := st.Line()
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
