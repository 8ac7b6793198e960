package atlas

import (
	"fmt"
	"strings"
)

// The atlas names build options by their BuildOptions field (OptionError,
// SettingDiff) and never by a command-line flag: a program that builds
// atlases names them as its users know them.

// OptionError is a build option out of range.
type OptionError struct {
	Option string // the BuildOptions field, e.g. "Ctx"
	Value  any
	Reason string // e.g. "is outside 1..512 (the model's longest context)"
}

var optionWords = map[string]string{"Ctx": "window length", "TopK": "top-k", "Radius": "window radius",
	"RandomK": "random-k", "Bands": "bands", "BandK": "band-k", "Batch": "batch"}

func (e *OptionError) Error() string {
	name := optionWords[e.Option]
	if name == "" {
		name = e.Option
	}
	return fmt.Sprintf("atlas: %s %v %s", name, e.Value, e.Reason)
}

// ExistsError is an output database that a build leaves alone unless told:
// an unfinished build (BuildOptions.Resume continues it, Force replaces it),
// a complete atlas of another build (Force replaces it), or a file that is
// not an atlas (never replaced).
type ExistsError struct {
	Path     string
	NotAtlas error // why the file is not an atlas; nil when it is one
	Complete bool  // a finished atlas
	Tokens   int64 // tokens of its last checkpoint
	Differs  error // how it differs from the build asked for; nil: the same build
}

func (e *ExistsError) Error() string {
	switch {
	case e.NotAtlas != nil:
		return fmt.Sprintf("atlas: %s already exists and is not a glia atlas (%v); it is left alone", e.Path, e.NotAtlas)
	case e.Complete:
		return fmt.Sprintf("atlas: %s already exists: a complete atlas of another build (%v)", e.Path, e.Differs)
	case e.Differs != nil:
		return fmt.Sprintf("atlas: %s already exists: an unfinished build at %d tokens, of another build (%v)", e.Path, e.Tokens, e.Differs)
	}
	return fmt.Sprintf("atlas: %s already exists: an unfinished build at %d tokens", e.Path, e.Tokens)
}

// InterruptedError is a build stopped by its context. Its database holds
// a checkpoint to resume from, unless Tokens is 0: then nothing had been
// done and the database was removed.
type InterruptedError struct {
	Path   string
	Tokens int64
	Err    error // the context's error
}

func (e *InterruptedError) Error() string {
	if e.Tokens == 0 {
		return fmt.Sprintf("atlas: interrupted before the first checkpoint; %s was removed (%v)", e.Path, e.Err)
	}
	return fmt.Sprintf("atlas: interrupted after %d tokens, checkpointed in %s (%v)", e.Tokens, e.Path, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// SettingDiff is one setting in which two builds differ, with both values
// as the atlas stores them.
type SettingDiff struct {
	Setting string // meta key: "top_k", "text_field", "hooks", ...
	A, B    string
}

// SettingsError lists the settings in which two builds differ.
type SettingsError struct {
	A, B  string // what each side is: "stored" and "requested", or two paths
	Diffs []SettingDiff
}

func (e *SettingsError) Error() string {
	var parts []string
	for _, d := range e.Diffs {
		parts = append(parts, fmt.Sprintf("%s is %s in %s, %s in %s", d.Setting, d.A, e.A, d.B, e.B))
	}
	return "different settings: " + strings.Join(parts, "; ")
}

// diffSettings compares the settings of two builds that decide how the
// corpus was read and what was kept (not the model, corpus or token limit).
func diffSettings(a, b *Meta) []SettingDiff {
	var out []SettingDiff
	add := func(name string, x, y any) {
		if sx, sy := fmt.Sprint(x), fmt.Sprint(y); sx != sy {
			out = append(out, SettingDiff{name, sx, sy})
		}
	}
	if x, y := hookDiff(a.Settings.Hooks, b.Settings.Hooks); x != y {
		out = append(out, SettingDiff{"hooks", x, y})
	}
	add("ctx", a.Settings.Ctx, b.Settings.Ctx)
	add("top_k", a.Settings.TopK, b.Settings.TopK)
	add("radius", a.Settings.Radius, b.Settings.Radius)
	add("threshold", a.Settings.Threshold, b.Settings.Threshold)
	add("random_k", a.Settings.RandomK, b.Settings.RandomK)
	add("bands", a.Settings.Bands, b.Settings.Bands)
	add("band_k", a.Settings.BandK, b.Settings.BandK)
	add("text_field", textFieldName(a.TextField), textFieldName(b.TextField))
	add("doc_sep", docSepName(a.DocSep), docSepName(b.DocSep))
	return out
}

// hookDiff describes two hook lists by their first difference.
func hookDiff(a, b []HookSpec) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i].Name == b[i].Name && a[i].Width == b[i].Width && fmt.Sprint(a[i].Axes) == fmt.Sprint(b[i].Axes) {
		i++
	}
	if i == len(a) && i == len(b) {
		return "", ""
	}
	desc := func(hs []HookSpec) string {
		s := fmt.Sprintf("%d hooks", len(hs))
		if i < len(hs) {
			s += fmt.Sprintf(" (#%d %s, %d units)", i+1, hs[i].Name, hs[i].Width)
		}
		return s
	}
	return desc(a), desc(b)
}

func sliceName(s Slice) string {
	if s.Whole() {
		return "the whole corpus"
	}
	return fmt.Sprintf("%s (batches of %d)", s, s.Batch)
}

func textFieldName(f string) string {
	if f == "" {
		return `"text"`
	}
	return fmt.Sprintf("%q", f)
}

func docSepName(s string) string {
	if s == "" {
		return "none (one document per file)"
	}
	return fmt.Sprintf("%q", s)
}

// SchemaError is an atlas of an older schema where this glia needs the
// current one (resuming, merging); Upgrade converts it. Reading works on
// both.
type SchemaError struct {
	Path    string
	Version int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("atlas: %s is a schema-%d atlas; this glia resumes and merges schema %d only: upgrade it first", e.Path, e.Version, SchemaVersion)
}
