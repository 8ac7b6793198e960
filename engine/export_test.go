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
