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

# Modular addition, p = 53 (p = 113 below takes ~4.5x as long):
# 30% of pairs, full batch, AdamW weight decay 1 on every weight, β₂ 0.98, a
# constant rate. Llama (untied embedding and unembedding): the tied GPT-2 of
# the same size memorised its 842 pairs and stayed at 29% held-out after
# 6000 steps. Committed as testdata/trained/modadd53 (TestModAddKnownAnswer);
# 100% held out from step 6250 with the training code of December 2026
# (session 6), 6000 with the code before it. p = 53 leaves 842 training
# pairs and is marginal: with session 7's fused kernels (other roundings) the
# same command ends at 99.7% (98.3-99.9% from step 4000 on, also over 10,000
# steps); p = 113 below is the robust answer.
"$GLIA" train --task modadd --p 53 --family llama --layers 1 --d-model 64 --heads 4 --d-mlp 256 --lr 3e-3 \
  --steps 7000 --eval-every 250 --seed 1 --out "$OUT/modadd53"

# Modular addition at the literature's p = 113 (Nanda et al.), the same
# settings and model: 12,769 pairs, 3,830 for training. Held-out accuracy is
# 99.8% by step 500 and 100% from step 5,500; committed as
# testdata/trained/modadd113 (TestModAddKnownAnswer). ~20 minutes on 2 cores.
"$GLIA" train --task modadd --p 113 --family llama --layers 1 --d-model 64 --heads 4 --d-mlp 256 --lr 3e-3 \
  --steps 12000 --eval-every 500 --seed 1 --out "$OUT/modadd113"

# Multilingual: the UDHR in 40 languages (testdata/corpora/udhr, README.md
# there). scripts/split-udhr.sh holds out the last 3 articles of each language;
# a 2048-token byte-level BPE and a 2-layer Llama (d_model 128, d_mlp 512,
# ctx 128, 1.05M parameters) learn from the rest, ~16 epochs in 13 minutes
# on the shared 2-core CPU. Committed as testdata/trained/udhr-multilingual
# (TestMultilingualKnownAnswer), with per_language_loss.json: the mean
# next-token loss on each language's held-out articles, from glia ablate's
# "loss before" (the intervention, ×1, changes nothing; ablate is the command
# that reports a loss per corpus). --held-out 0.001 keeps glia train's own
# held-out set to one window: it is the end of the packed stream, the last
# language (zul), and the default 5% would keep all of zul's training text out.
UDHR=testdata/corpora/udhr
scripts/split-udhr.sh "$UDHR"
mkdir -p "$OUT/udhr-tokenizer"
"$GLIA" tokenizer train --vocab 2048 --corpus "$UDHR/train" --special "<|endoftext|>" \
  --out "$OUT/udhr-tokenizer/tokenizer.json"
"$GLIA" train --family llama --layers 2 --d-model 128 --heads 4 --d-mlp 512 --seq 128 --batch 16 \
  --corpus "$UDHR/train" --tokenizer "$OUT/udhr-tokenizer/tokenizer.json" --held-out 0.001 \
  --steps 1800 --warmup 100 --lr 2e-3 --weight-decay 0.1 --eval-every 200 --checkpoint-every 200 \
  --seed 1 --json --out "$OUT/udhr-multilingual" > /dev/null
langs=()
for f in "$UDHR"/heldout/*.txt; do langs+=(--corpus "$(basename "$f" .txt)=$f"); done
"$GLIA" ablate --model "$OUT/udhr-multilingual" "${langs[@]}" --intervene 'blocks.0.hook_resid_post*=1' \
  --max-tokens 0 --json |
  jq '[.corpora[] | {language: .corpus, loss: .loss_before, tokens}] |
      {mean_loss: (map(.loss) | add / length), languages: .}' > "$OUT/udhr-multilingual/per_language_loss.json"
