package atlas

// Model is what the atlas needs from a language model; the engine adapts to it.
type Model interface {
	Fingerprint() string                         // stable identity of weights+config; stored in the DB, compared on resume/merge
	Name() string                                // human-readable (path or "stories260K (embedded)")
	MatchHooks(pattern string) ([]string, error) // glob over hook names, e.g. "blocks.*.mlp.hook_post"; error if none match
	HookWidth(name string) (int, error)          // size of the feature (last) axis of a hook
	MaxContext() int                             // longest window the model accepts
	// Forward runs a batch of equal-length windows (no padding) and returns, for each requested hook, its
	// activations as a row-major [batch, pos, width] float32 slice.
	Forward(ids [][]int32, hooks []string) (map[string][]float32, error)
	Encode(text string) []int32  // no BOS/EOS
	BOS() int32                  // -1 if the model has none
	TokenString(id int32) string // display form of one token
}

// HookShaper is implemented by a Model whose hooks may have more than one
// axis after [batch, pos] (attention's hook_q/k/v/z: [batch, pos, head,
// d_head]) or no position axis (hook_pattern, hook_attn_scores: [batch,
// head, q, k]). HookShape returns a hook's shape on one sequence of seq
// tokens; Build asks for two lengths to find the position axis. A Model
// without it has [batch, pos, HookWidth] hooks only.
type HookShaper interface {
	HookShape(name string, seq int) ([]int, error)
}
