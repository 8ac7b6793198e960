package engine

// SetAttnChunk makes graphs built from now on chunk attention by n
// queries, and returns a function that restores the engine's choice.
func SetAttnChunk(n int) (restore func()) {
	cpu.mu.Lock()
	defer cpu.mu.Unlock()
	old := cpu.chunk
	cpu.chunk = n
	return func() {
		cpu.mu.Lock()
		defer cpu.mu.Unlock()
		cpu.chunk = old
	}
}

// Graphs is how many compiled graphs the model holds.
func (m *Model) Graphs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.execs)
}
