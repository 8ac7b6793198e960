#!/bin/sh
# bench.sh: encode speed of glia (Go, one core) and HF tokenizers (node binding)
# on the same ~400 KB of English (testdata/tokenizer/moby-dick-excerpt.txt.gz,
# cut into >= 4 KB pieces at line ends), measured back to back in one run.
#
#   cd tools/tokref && npm install && sh bench.sh
set -e
cd "$(dirname "$0")/../.."
echo "== glia (go test -bench BenchmarkEncode -cpu 1)"
GOEXPERIMENT=simd go test ./tokenizer -run '^$' -bench 'BenchmarkEncode$' -benchtime 10x -count 3 -cpu 1 | grep -E '^Benchmark'
echo "== HF tokenizers@0.23.2 (node, best of 3 passes after warm-up)"
node tools/tokref/gen.mjs --bench-only
