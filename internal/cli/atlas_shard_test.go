package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glia-dev/glia/atlas"
)

func TestSliceFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  sliceFlags
		env    map[string]string
		want   atlas.Slice
		from   string
		errHas string
	}{
		{"none", sliceFlags{}, nil, atlas.Slice{}, "", ""},
		{"--shard", sliceFlags{shard: "2/5"}, nil, atlas.Slice{Index: 2, Count: 5}, "", ""},
		{"--shard wins over Slurm", sliceFlags{shard: "0/1"}, map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, atlas.Slice{}, "", ""},
		{"--shard out of range", sliceFlags{shard: "5/5"}, nil, atlas.Slice{}, "", "0 <= I < N"},
		{"--shard and --shards disagree", sliceFlags{shard: "1/4", shards: 3}, nil, atlas.Slice{}, "", "disagree"},
		{"Slurm", sliceFlags{}, map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, atlas.Slice{Index: 3, Count: 4}, "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT", ""},
		{"Slurm array from 1", sliceFlags{}, map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}, atlas.Slice{Index: 3, Count: 4}, "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT", ""},
		{"Slurm array with a step", sliceFlags{}, map[string]string{"SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_COUNT": "4"}, atlas.Slice{}, "", "--array=0-N-1"},
		{"Kubernetes", sliceFlags{shards: 8}, map[string]string{"JOB_COMPLETION_INDEX": "7"}, atlas.Slice{Index: 7, Count: 8}, "$JOB_COMPLETION_INDEX", ""},
		{"Kubernetes without its index", sliceFlags{shards: 8}, nil, atlas.Slice{}, "", "$JOB_COMPLETION_INDEX"},
		{"Kubernetes index too large", sliceFlags{shards: 8}, map[string]string{"JOB_COMPLETION_INDEX": "8"}, atlas.Slice{}, "", "0 <= I < N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from, err := tc.flags.resolve(func(k string) string { return tc.env[k] })
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want || from != tc.from {
				t.Fatalf("got %v from %q (%v), want %v from %q", got, from, err, tc.want, tc.from)
			}
		})
	}
}

// TestAtlasSlicesCLI builds three slices as a Slurm job array and a
// Kubernetes Indexed Job would (by their environment variables), merges
// them in another order, and exports what one build exports.
func TestAtlasSlicesCLI(t *testing.T) {
	fakeAtlasModel(t)
	dir := t.TempDir()
	c := writeStories(t, filepath.Join(dir, "c"), 8)
	flags := []string{"--corpus", c, "--ctx", "32", "--top-k", "4", "--window", "3", "--batch", "2"}
	one := filepath.Join(dir, "one.db")
	if code, _, errs := atlasCLI(t, append([]string{"atlas", "build", "--out", one}, flags...)...); code != 0 {
		t.Fatal(errs)
	}
	for _, sched := range []string{"slurm", "kubernetes"} {
		t.Run(sched, func(t *testing.T) {
			var parts []string
			for i := 0; i < 3; i++ {
				out := filepath.Join(dir, fmt.Sprintf("%s-%d.db", sched, i))
				args := append([]string{"atlas", "build", "--out", out}, flags...)
				if sched == "slurm" {
					t.Setenv("SLURM_ARRAY_TASK_ID", fmt.Sprint(i))
					t.Setenv("SLURM_ARRAY_TASK_COUNT", "3")
				} else {
					t.Setenv("JOB_COMPLETION_INDEX", fmt.Sprint(i))
					args = append(args, "--shards", "3")
				}
				code, _, errs := atlasCLI(t, args...)
				if code != 0 || !strings.Contains(errs, fmt.Sprintf("building slice %d/3", i)) {
					t.Fatalf("slice %d: %d %q", i, code, errs)
				}
				parts = append(parts, out)
			}
			merged := filepath.Join(dir, sched+".db")
			code, out, errs := atlasCLI(t, "atlas", "merge", parts[2], parts[0], parts[1], "--out", merged)
			if code != 0 {
				t.Fatalf("merge: %q %q", out, errs)
			}
			want, got := exportUnits(t, one), exportUnits(t, merged)
			if len(want) != len(got) || len(want) == 0 {
				t.Fatalf("%d units merged, %d in one build", len(got), len(want))
			}
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("unit %d:\n%s\n%s", i, want[i], got[i])
				}
			}
		})
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	t.Setenv("JOB_COMPLETION_INDEX", "")
	code, _, errs := atlasCLI(t, "atlas", "merge", filepath.Join(dir, "slurm-0.db"), filepath.Join(dir, "slurm-1.db"), "--out", filepath.Join(dir, "x.db"))
	if code != 1 || !strings.Contains(errs, "slices 2/3 are missing") {
		t.Fatalf("merge of 2 of 3 slices: %d %q", code, errs)
	}
}

// exportUnits exports an atlas as jsonl, without the floating-point
// statistics that depend on summation order.
func exportUnits(t *testing.T, db string) []string {
	t.Helper()
	code, out, errs := atlasCLI(t, "atlas", "export", "--db", db, "--format", "jsonl")
	if code != 0 {
		t.Fatal(errs)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r atlas.UnitReport
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		r.Mean, r.Var, r.Std = 0, 0, 0
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	return lines
}

// TestAtlasUpgradeCLI converts the schema-1 fixture; merging it before
// says how.
func TestAtlasUpgradeCLI(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../../atlas/testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	v1 := filepath.Join(dir, "v1.db")
	os.WriteFile(v1, data, 0o644)
	os.WriteFile(filepath.Join(dir, "v1b.db"), data, 0o644)
	code, _, errs := atlasCLI(t, "atlas", "merge", v1, filepath.Join(dir, "v1b.db"), "--out", filepath.Join(dir, "m.db"))
	if code != 1 || !strings.Contains(errs, "schema-1 atlas") || !strings.Contains(errs, "glia atlas upgrade "+v1+" --out NEW.db") {
		t.Fatalf("merge of schema 1: %d %q", code, errs)
	}
	up := filepath.Join(dir, "v2.db")
	if code, out, errs := atlasCLI(t, "atlas", "upgrade", v1, "--out", up); code != 0 || !strings.Contains(out, "wrote "+up+": schema 2") {
		t.Fatalf("upgrade: %d %q %q", code, out, errs)
	}
	_, x, _ := atlasCLI(t, "atlas", "show", "--db", v1, "blocks.1.mlp.hook_post:3", "--json")
	_, y, _ := atlasCLI(t, "atlas", "show", "--db", up, "blocks.1.mlp.hook_post:3", "--json")
	if x != y || !strings.Contains(x, `"top":[{`) {
		t.Fatalf("show before and after the upgrade:\n%.300s\n%.300s", x, y)
	}
}
