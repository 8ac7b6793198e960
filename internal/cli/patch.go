package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/glia-dev/glia/engine"
	"github.com/glia-dev/glia/experiment"
)

func init() {
	Register(&Command{Name: "patch", Summary: "activation patching: normalised effect per layer × position, head or neuron; JSON + SVG/PNG heat map", Run: runPatch})
	Register(&Command{Name: "patch path", Summary: "path patching from sender heads to receiver heads' q/k/v (IOI style)", Run: runPathPatch})
}

// pairFlags read clean/corrupt prompts and the metric.
type pairFlags struct {
	clean, corrupt stringList
	cleanIDs       stringList
	corruptIDs     stringList
	metric         string
}

func (f *pairFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.clean, "clean", "clean prompt (repeatable: one per pair; BOS added)")
	fs.Var(&f.corrupt, "corrupt", "corrupt prompt (repeatable, as many as --clean)")
	fs.Var(&f.cleanIDs, "clean-ids", `clean prompt as token ids "1 403 407" (instead of --clean)`)
	fs.Var(&f.corruptIDs, "corrupt-ids", "corrupt prompt as token ids")
	fs.StringVar(&f.metric, "metric", "", "logit-diff:TOKA,TOKB: logit[A] − logit[B] at the last position (tokens as text, or #ID)")
}

func (f *pairFlags) pairs(m *engine.Model) ([]experiment.Pair, error) {
	var clean, corrupt [][]int32
	read := func(texts, ids []string, what string) ([][]int32, error) {
		if len(texts) > 0 && len(ids) > 0 {
			return nil, fmt.Errorf("give --%s or --%s-ids, not both", what, what)
		}
		var out [][]int32
		for _, t := range texts {
			p, err := encodePrompt(m, t)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", what, err)
			}
			out = append(out, p)
		}
		for _, s := range ids {
			seqs, err := parseIDs(s)
			if err != nil {
				return nil, fmt.Errorf("--%s-ids: %w", what, err)
			}
			out = append(out, seqs...)
		}
		return out, nil
	}
	clean, err := read(f.clean, f.cleanIDs, "clean")
	if err != nil {
		return nil, err
	}
	corrupt, err = read(f.corrupt, f.corruptIDs, "corrupt")
	if err != nil {
		return nil, err
	}
	if len(clean) != len(corrupt) {
		return nil, usagef("give as many --corrupt as --clean prompts (got %d --clean and %d --corrupt)", len(clean), len(corrupt))
	}
	metric, err := experiment.ParseMetric(f.metric)
	if err != nil {
		return nil, fmt.Errorf("--metric: %w", err)
	}
	a, b, err := metric.Tokens(m)
	if err != nil {
		return nil, fmt.Errorf("--metric: %w", err)
	}
	var out []experiment.Pair
	for i := range clean {
		if len(clean[i]) != len(corrupt[i]) {
			fmt.Fprintf(Stderr, "glia patch: note: pair %d: the clean prompt has %d tokens and the corrupt one %d; they are aligned at their last token, and positions only one of them has are not patched\n",
				i+1, len(clean[i]), len(corrupt[i]))
		}
		out = append(out, experiment.Pair{Clean: clean[i], Corrupt: corrupt[i], A: a, B: b})
	}
	return out, nil
}

// check says what is missing before anything is loaded.
func (f *pairFlags) check() error {
	switch {
	case len(f.clean)+len(f.cleanIDs) == 0 && len(f.corrupt)+len(f.corruptIDs) == 0:
		return usagef(`missing the prompts: give --clean TEXT and --corrupt TEXT (or --clean-ids and --corrupt-ids), and --metric logit-diff:A,B`)
	case len(f.clean)+len(f.cleanIDs) == 0:
		return usagef("missing --clean: give the clean prompt(s), one --clean for each --corrupt")
	case len(f.corrupt)+len(f.corruptIDs) == 0:
		return usagef("missing --corrupt: give the corrupt prompt(s), one --corrupt for each --clean")
	case f.metric == "":
		return usagef(`missing --metric: give logit-diff:A,B (the logit of token A minus that of B at the last position; tokens as text, e.g. " Tim", or #ID)`)
	}
	return nil
}

func tokLabel(m *engine.Model, id int32) string { return strings.TrimSpace(m.TokenText(id)) }

func runPatch(args []string) error {
	fs := newFlags("patch")
	var mf modelFlags
	mf.register(fs)
	var pf pairFlags
	pf.register(fs)
	kindFlag := fs.String("hook", "resid_pre", "what to patch at every layer: resid_pre, resid_mid, resid_post, attn_out, mlp_out, z, q, k, v, mlp_pre, mlp_post")
	perFlag := fs.String("per", "pos", "cells: pos (layer × position), head (layer × head; --hook z), neuron (layer × unit), layer")
	batch := fs.Int("batch", 16, "patched rows per forward")
	out := fs.String("out", "patch", "write OUT.json, OUT.svg and OUT.png (OUT.json and OUT.png, or OUT.svg, when OUT ends in .png or .svg)")
	asJSON := fs.Bool("json", false, "print the JSON result instead of a table")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := pf.check(); err != nil {
		return err
	}
	kind, err := experiment.ParseKind(*kindFlag)
	if err != nil {
		return fmt.Errorf("--hook: %w", err)
	}
	per, err := experiment.ParsePer(*perFlag)
	if err != nil {
		return fmt.Errorf("--per: %w", err)
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	pairs, err := pf.pairs(m)
	if err != nil {
		return err
	}
	res, err := experiment.Sweep(m, pairs, experiment.PatchOptions{Kind: kind, Per: per, Batch: *batch})
	if err != nil {
		return err
	}
	grid := res.Grid(pairs[0], func(id int32) string { return tokLabel(m, id) })
	grid.Title = m.Name + ": " + grid.Title
	written, err := writeOutputs(*out, jsonGrid(res), grid)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(Stdout).Encode(jsonGrid(res))
	}
	for i, p := range res.Pairs {
		fmt.Fprintf(Stdout, "pair %d: metric clean %.4f, corrupt %.4f\n", i, p.Clean, p.Corrupt)
	}
	fmt.Fprintf(Stdout, "%d patched rows in %d forwards (batch %d), %.2fs", res.Rows, res.Forwards, *batch, res.Seconds)
	if res.Skipped > 0 {
		fmt.Fprintf(Stdout, "; %d cells before the prompts differ not run (they equal the corrupt run)", res.Skipped)
	}
	fmt.Fprintln(Stdout)
	if len(grid.Cols) <= 40 {
		printGrid(grid)
	}
	fmt.Fprintf(Stdout, "wrote %s\n", strings.Join(written, ", "))
	return nil
}

func printGrid(g experiment.Grid) {
	fmt.Fprintf(Stdout, "columns: %s\n", strings.Join(g.Cols, " | "))
	printGridRows(g, 5, 6, 3, func(c int) string { return fmt.Sprint(c) })
}

// printGridRows prints a grid's header of column numbers (head(c)) and its
// rows, each label in label columns and each value in cell columns with
// prec decimals; NaN cells are "-".
func printGridRows(g experiment.Grid, label, cell, prec int, head func(c int) string) {
	fmt.Fprintf(Stdout, "%-*s", label, "")
	for c := range g.Cols {
		fmt.Fprintf(Stdout, " %*s", cell, head(c))
	}
	fmt.Fprintln(Stdout)
	for r, row := range g.Values {
		fmt.Fprintf(Stdout, "%-*s", label, g.Rows[r])
		for _, v := range row {
			if math.IsNaN(v) {
				fmt.Fprintf(Stdout, " %*s", cell, "-")
			} else {
				fmt.Fprintf(Stdout, " %*.*f", cell, prec, v)
			}
		}
		fmt.Fprintln(Stdout)
	}
}

// jsonGrid turns v into plain JSON values with NaN and ±Inf as null
// (encoding/json rejects them).
func jsonGrid(v any) any { return replaceNaN(reflect.ValueOf(v)) }

func replaceNaN(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return replaceNaN(v.Elem())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = replaceNaN(v.Index(i))
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			out[name] = replaceNaN(v.Field(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[fmt.Sprint(k.Interface())] = replaceNaN(v.MapIndex(k))
		}
		return out
	case reflect.Uint8:
		return v.Uint()
	}
	return v.Interface()
}

// writeOutputs writes result as PREFIX.json and the grid as PREFIX.svg
// and PREFIX.png; a prefix ending in .png or .svg names the one figure to
// write. It returns the files written.
func writeOutputs(prefix string, result any, g experiment.Grid) ([]string, error) {
	figures := []string{".svg", ".png"}
	if ext := filepath.Ext(prefix); ext == ".svg" || ext == ".png" {
		prefix, figures = strings.TrimSuffix(prefix, ext), []string{ext}
	}
	j, err := json.MarshalIndent(result, "", " ")
	if err != nil {
		return nil, err
	}
	written := []string{prefix + ".json"}
	if err := os.WriteFile(written[0], append(j, '\n'), 0o644); err != nil {
		return nil, err
	}
	for _, ext := range figures {
		if err := g.HeatMap().Save(prefix + ext); err != nil {
			return nil, err
		}
		written = append(written, prefix+ext)
	}
	return written, nil
}

func runPathPatch(args []string) error {
	fs := newFlags("patch path")
	var mf modelFlags
	mf.register(fs)
	var pf pairFlags
	pf.register(fs)
	recv := fs.String("receivers", "", "receiver heads' inputs: LAYER.HEAD[q|k|v],... (no letter: q, k and v)")
	senders := fs.String("senders", "", "sender sets, ';'-separated, each LAYER.HEAD,... (default: every single head below the first receiver layer)")
	batch := fs.Int("batch", 16, "rows per forward")
	out := fs.String("out", "pathpatch", "write OUT.json, OUT.svg and OUT.png (OUT.json and OUT.png, or OUT.svg, when OUT ends in .png or .svg)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := pf.check(); err != nil {
		return err
	}
	if strings.TrimSpace(*recv) == "" {
		return usagef("missing --receivers: give the receiver heads' inputs as LAYER.HEAD[q|k|v],... (e.g. 3.0q,3.1)")
	}
	m, err := mf.load()
	if err != nil {
		return err
	}
	pairs, err := pf.pairs(m)
	if err != nil {
		return err
	}
	rs, err := experiment.ParseReceivers(*recv)
	if err != nil {
		return fmt.Errorf("--receivers: %w", err)
	}
	var sets [][]experiment.Head
	d := m.Dims()
	if *senders == "" {
		low := d.Layers
		for _, r := range rs {
			low = min(low, r.Layer)
		}
		for l := range low {
			for h := range d.Heads {
				sets = append(sets, []experiment.Head{{Layer: l, Head: h}})
			}
		}
		if len(sets) == 0 {
			return fmt.Errorf("no heads lie below layer %d: give --senders", low)
		}
	} else {
		for _, grp := range strings.Split(*senders, ";") {
			var set []experiment.Head
			for _, f := range strings.Split(grp, ",") {
				h, err := experiment.ParseHead(strings.TrimSpace(f))
				if err != nil {
					return fmt.Errorf("--senders: %w", err)
				}
				set = append(set, h)
			}
			sets = append(sets, set)
		}
	}
	res, err := experiment.PathPatch(m, pairs, sets, rs, *batch)
	if err != nil {
		return err
	}
	for i, p := range res.Pairs {
		fmt.Fprintf(Stdout, "pair %d: metric clean %.4f, corrupt %.4f\n", i, p.Clean, p.Corrupt)
	}
	fmt.Fprintf(Stdout, "%d sender set(s) × %d pair(s) in %d forwards, %.2fs\n", len(sets), len(pairs), res.Forwards, res.Seconds)
	for s, set := range sets {
		var names []string
		for _, h := range set {
			names = append(names, fmt.Sprintf("%d.%d", h.Layer, h.Head))
		}
		fmt.Fprintf(Stdout, "  senders %-12s effect %8.4f\n", strings.Join(names, ","), res.Mean[s])
	}
	grid := res.Grid(d.Layers, d.Heads)
	grid.Title = m.Name + ": " + grid.Title
	written, err := writeOutputs(*out, jsonGrid(res), grid)
	if err != nil {
		return err
	}
	fmt.Fprintf(Stdout, "wrote %s\n", strings.Join(written, ", "))
	return nil
}
