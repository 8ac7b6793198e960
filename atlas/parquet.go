package atlas

import (
	"errors"
	"io"
)

// exportParquet is not written yet; see docs/atlas.md.
func exportParquet(a *Atlas, w io.Writer) error {
	return errors.New("atlas: parquet export is not available yet; use --format jsonl or csv (or read the SQLite file directly with pandas)")
}
