#!/usr/bin/env bash
# split-udhr.sh: splits each UDHR language (testdata/corpora/udhr/<iso>.txt,
# units separated by one blank line) into train/<iso>.txt and
# heldout/<iso>.txt: the last 3 of its 31-32 units (articles 28-30, ~10%) are
# held out, the rest trains. Deterministic: rerunning rewrites the same files.
#
#   scripts/split-udhr.sh [DIR]
set -eu
cd "$(dirname "$0")/.."
DIR="${1:-testdata/corpora/udhr}"
HOLD=3
mkdir -p "$DIR/train" "$DIR/heldout"
for f in "$DIR"/*.txt; do
  iso=$(basename "$f" .txt)
  # RS="" reads one blank-line-separated unit per record.
  awk -v RS= -v hold="$HOLD" -v tr="$DIR/train/$iso.txt" -v ho="$DIR/heldout/$iso.txt" '
    { unit[NR] = $0 }
    END {
      printf "" > tr; printf "" > ho
      for (i = 1; i <= NR; i++) {
        out = (i > NR - hold) ? ho : tr
        first = (i == 1 || i == NR - hold + 1)
        printf "%s%s\n", (first ? "" : "\n"), unit[i] > out
      }
    }' "$f"
done
