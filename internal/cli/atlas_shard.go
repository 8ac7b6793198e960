package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/glia-dev/glia/atlas"
)

func init() {
	Register(&Command{Name: "atlas upgrade", Summary: "convert a schema-1 atlas to the current schema", Args: "OLD.db", Run: atlasUpgrade})
}

// sliceFlags are atlas build's --shard and --shards: which slice of the
// corpus to build, given outright or read from a scheduler's array index.
type sliceFlags struct {
	shard  string
	shards int
}

func (s *sliceFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&s.shard, "shard", "", "build slice I/N of the corpus (0 <= I < N; windows dealt round-robin), to merge with the other N-1 (default: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT in a Slurm job array)")
	fs.IntVar(&s.shards, "shards", 0, "with $JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs): build slice $JOB_COMPLETION_INDEX/N")
}

// resolve picks the slice and says where it came from ("" when given
// outright or whole).
func (s *sliceFlags) resolve(getenv func(string) string) (atlas.Slice, string, error) {
	switch {
	case s.shard != "":
		sl, err := atlas.ParseSlice(s.shard)
		if err != nil {
			return sl, "", fmt.Errorf("--shard: %w", err)
		}
		if s.shards != 0 && s.shards != max(sl.Count, 1) {
			return sl, "", fmt.Errorf("--shard %s and --shards %d disagree; give one", s.shard, s.shards)
		}
		return sl, "", nil
	case s.shards < 0:
		return atlas.Slice{}, "", fmt.Errorf("--shards must be at least 1 (got %d)", s.shards)
	case s.shards > 0:
		v := getenv("JOB_COMPLETION_INDEX")
		if v == "" {
			return atlas.Slice{}, "", fmt.Errorf("--shards %d takes the slice index from $JOB_COMPLETION_INDEX (set in a Kubernetes Indexed Job), which is not set; give --shard I/%d instead", s.shards, s.shards)
		}
		sl, err := atlas.ParseSlice(v + "/" + strconv.Itoa(s.shards))
		if err != nil {
			return sl, "", fmt.Errorf("$JOB_COMPLETION_INDEX=%s with --shards %d: %w", v, s.shards, err)
		}
		return sl, "$JOB_COMPLETION_INDEX", nil
	}
	id, count := getenv("SLURM_ARRAY_TASK_ID"), getenv("SLURM_ARRAY_TASK_COUNT")
	if id == "" || count == "" {
		return atlas.Slice{}, "", nil
	}
	i, err1 := strconv.Atoi(id)
	lo, err2 := 0, error(nil)
	if v := getenv("SLURM_ARRAY_TASK_MIN"); v != "" {
		lo, err2 = strconv.Atoi(v)
	}
	if err1 != nil || err2 != nil {
		return atlas.Slice{}, "", fmt.Errorf("$SLURM_ARRAY_TASK_ID=%q, $SLURM_ARRAY_TASK_MIN=%q: not numbers", id, getenv("SLURM_ARRAY_TASK_MIN"))
	}
	sl, err := atlas.ParseSlice(fmt.Sprintf("%d/%s", i-lo, count))
	if err != nil {
		return sl, "", fmt.Errorf("Slurm job array task %d of %s (first %d): %w; submit the array as --array=0-N-1 (no step), or give --shard I/N", i, count, lo, err)
	}
	return sl, "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT", nil
}

func atlasUpgrade(args []string) error {
	fs := newFlags("atlas upgrade")
	out := fs.String("out", "", "the upgraded atlas (must not exist)")
	in, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(in) != 1 {
		fmt.Fprintln(Stderr, "usage: glia atlas upgrade OLD.db --out NEW.db")
		return errUsage
	}
	if err := atlas.Upgrade(in[0], *out); err != nil {
		return err
	}
	fmt.Fprintf(Stdout, "wrote %s: schema %d, the statistics and examples of %s\n", *out, atlas.SchemaVersion, in[0])
	return nil
}

// schemaHint names the command that converts an old atlas.
func schemaHint(err error) error {
	var se *atlas.SchemaError
	if errors.As(err, &se) {
		return fmt.Errorf("%w (glia atlas upgrade %s --out NEW.db)", err, se.Path)
	}
	return err
}
