#!/usr/bin/env bash
# train-known-answers.sh: the seeded commands that train glia's known-answer
# models (docs/train.md). Each writes a Hugging Face directory with its
# train_log.jsonl; the summary line carries the figures (induction and
# previous-token scores per head; modadd held-out accuracy and the embedding's
# Fourier concentration).
#
#   GOEXPERIMENT=simd go build -o bin/glia ./cmd/glia && scripts/train-known-answers.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
OUT="${1:-models}"
GLIA="${GLIA:-bin/glia}"

# Two-layer attention-only Llama (rotary positions) on repeated random tokens
# (varying period and offset, so the repeat cannot be found by position
# alone). Committed as testdata/trained/induction (TestInductionKnownAnswer).
# The same run with gpt2's learned absolute positions found no textbook
# circuit in 4000-5000 steps (docs/train.md).
"$GLIA" train --family llama --attn-only --layers 2 --d-model 64 --heads 4 --vocab 512 \
  --seq 32 --batch 64 --steps 2000 --warmup 200 --lr 3e-3 --min-lr-frac 0.3 --weight-decay 0.01 \
  --eval-every 200 --seed 1 --out "$OUT/induction"

# Modular addition, p = 53 (p = 113 is ~25x slower per step on 2 CPU cores):
# 30% of pairs, full batch, AdamW weight decay 1 on every weight, β₂ 0.98, a
# constant rate. Llama (untied embedding and unembedding): the tied GPT-2 of
# the same size memorised its 842 pairs and stayed at 29% held-out after
# 6000 steps. Committed as testdata/trained/modadd53 (TestModAddKnownAnswer).
"$GLIA" train --task modadd --p 53 --family llama --layers 1 --d-model 64 --heads 4 --d-mlp 256 --lr 3e-3 \
  --steps 6000 --eval-every 250 --seed 1 --out "$OUT/modadd53"
