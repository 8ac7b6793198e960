#!/bin/sh
# Screenshots of image atlas unit pages for docs/img (not run by CI): the
# trained MNIST CNN and ViT over the 1,000 test digits, and the shortcut
# CNN over the same digits with its 4×4 mark on every odd-numbered one.
# Needs Debian's chromium and python3. Usage: scripts/imgatlas-screenshots.sh [glia binary]
set -eu
glia=${1:-glia}
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
python3 - "$tmp/marked.u8" <<'PY'
import sys
raw = bytearray(open("testdata/images/mnist/mnist-1k.u8", "rb").read())
for i in range(1, 1000, 2):
    for y in range(1, 5):
        raw[16 + i * 784 + y * 28 + 1:16 + i * 784 + y * 28 + 5] = b"\xff" * 4
open(sys.argv[1], "wb").write(raw)
PY
shot() { # model images unit png
	"$glia" atlas build --model "testdata/trained/$1" --images "$2" --out "$tmp/$1.db" --force >/dev/null
	"$glia" serve --db "$tmp/$1.db" --model "testdata/trained/$1" --addr 127.0.0.1:18799 >/dev/null 2>&1 &
	pid=$!
	sleep 3
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1060 --virtual-time-budget=10000 \
		--screenshot="docs/img/$4" "http://127.0.0.1:18799/neuron/$3" 2>/dev/null
	kill $pid
	wait $pid 2>/dev/null || true
}
shot mnist-cnn-shortcut "$tmp/marked.u8" layers.7.relu.hook_out/30 imgatlas-shortcut-cnn.png
shot mnist-cnn testdata/images/mnist/mnist-1k.u8 layers.4.relu.hook_out/7 imgatlas-mnist-cnn.png
shot mnist-vit testdata/images/mnist/mnist-1k.u8 blocks.1.mlp.hook_post/5 imgatlas-mnist-vit.png
