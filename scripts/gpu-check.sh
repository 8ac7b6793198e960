#!/usr/bin/env bash
# gpu-check.sh: glia's GPU parity and benchmark run (issue 8), for a machine
# with an NVIDIA GPU, PyTorch + transformers, and no Go toolchain or network.
#
# Expects bin/glia built elsewhere and carried in:
#   GOEXPERIMENT=simd go build -o bin/glia ./cmd/glia
# Writes $OUT/gpu-results/ (default ./gpu-out/gpu-results/): results.json
# plus one log per step. Every step has a timeout; a failing step is logged
# and the script goes on. Meant to finish in ~8 minutes on an H100.
set -u
cd "$(dirname "$0")/.."
R="${OUT:-$PWD/gpu-out}/gpu-results"
mkdir -p "$R"
GLIA="$PWD/bin/glia"
BATCH="${BATCH:-16}"
SEQ="${SEQ:-512}"
START=$(date +%s)
echo "[]" > "$R/steps.json"

log() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$R/run.log"; }

# step NAME TIMEOUT CMD...: runs CMD with stdout to NAME.out, stderr to
# NAME.err, records rc and seconds in steps.json.
step() {
	local name=$1 limit=$2
	shift 2
	log "step $name: $*"
	local t0=$(date +%s.%N)
	timeout -k 10 "$limit" "$@" > "$R/$name.out" 2> "$R/$name.err"
	local rc=$?
	local t1=$(date +%s.%N)
	log "step $name: rc=$rc ($(echo "$t1 - $t0" | bc 2>/dev/null || echo ?)s)"
	python3 - "$R/steps.json" "$name" "$rc" "$t0" "$t1" <<'EOF'
import json, sys
p, name, rc, t0, t1 = sys.argv[1:]
s = json.load(open(p))
s.append({"step": name, "rc": int(rc), "seconds": round(float(t1) - float(t0), 2)})
json.dump(s, open(p, "w"), indent=1)
EOF
	return 0
}

log "gpu-check: results in $R"
{
	nvidia-smi || true
	python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, torch.cuda.get_device_name(0))' || true
	ls -la "$GLIA" || true
} > "$R/env.txt" 2>&1

# The PJRT CUDA plugin (JAX's xla_cuda_plugin.so, or any pjrt cuda plugin)
# and the NVIDIA libraries of the Python environment. glia --device cuda
# finds and re-execs with them itself; atlas build reads $GOMLX_BACKEND.
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || echo /nonexistent)
PLUGIN="${PJRT_PLUGIN_LIBRARY_PATH:-}"
if [ -z "$PLUGIN" ]; then
	PLUGIN=$(ls "$SITE"/jax_plugins/*/xla_cuda_plugin.so 2>/dev/null | head -1)
fi
if [ -z "$PLUGIN" ]; then
	PLUGIN=$(timeout 60 find / -xdev \( -name 'xla_cuda_plugin.so' -o -name 'pjrt_c_api_cuda_plugin*.so' \) 2>/dev/null | head -1)
fi
NVLIBS=$(ls -d "$SITE"/nvidia/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${NVLIBS}${LD_LIBRARY_PATH:-}"
echo "plugin=$PLUGIN" >> "$R/env.txt"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$R/env.txt"
HAVE_GLIA_GPU=1
if [ ! -x "$GLIA" ]; then
	log "no bin/glia: build it with GOEXPERIMENT=simd go build -o bin/glia ./cmd/glia and carry it"
	HAVE_GLIA_GPU=0
elif [ -z "$PLUGIN" ]; then
	log "no PJRT CUDA plugin found (pip install 'jax[cuda13]' or set PJRT_PLUGIN_LIBRARY_PATH): glia GPU steps skipped"
	HAVE_GLIA_GPU=0
else
	export PJRT_PLUGIN_LIBRARY_PATH="$PLUGIN"
fi

if [ "$HAVE_GLIA_GPU" = 1 ]; then
	# Parity: fp32 with TF32 off against transformers' fixtures (1e-4), then
	# bf16 on the GPU against glia's bf16 CPU run (1e-2).
	step parity_cuda_f32 120 "$GLIA" parity --device cuda --dtype f32 --json
	step parity_cpu_bf16 120 "$GLIA" parity --device cpu --dtype bf16 --save-logits "$R/logits-cpu" --json
	step parity_cuda_bf16 120 "$GLIA" parity --device cuda --dtype bf16 --compare-logits "$R/logits-cpu" --json

	# Forward throughput with every mlp.hook_post cached (copied to the host).
	for shape in gpt2-small llama-3.2-1b; do
		for dt in bf16 f32; do
			step "bench_glia_${shape}_${dt}" 150 "$GLIA" bench --device cuda --shape "$shape" --dtype "$dt" --batch "$BATCH" --seq "$SEQ" --iters 5 --json
		done
	done

	# Long sequence: 4096 tokens, batch 1, GPT-2-small shape (n_positions raised).
	step long4096_f32 120 "$GLIA" bench --device cuda --shape gpt2-small --dtype f32 --batch 1 --seq 4096 --iters 2 --json
	step long4096_bf16 120 "$GLIA" bench --device cuda --shape gpt2-small --dtype bf16 --batch 1 --seq 4096 --iters 2 --json

	# Atlas build throughput (embedded model and corpus), GPU then CPU.
	step atlas_cuda 150 env GOMLX_BACKEND="xla:$PLUGIN,tf32=false" GLIA_CUDA_REEXEC=1 "$GLIA" atlas build --out "$R/atlas-cuda.db" --batch 64 --json
	step atlas_cpu 150 env GOMLX_BACKEND=go "$GLIA" atlas build --out "$R/atlas-cpu.db" --batch 64 --json
	rm -f "$R"/atlas-*.db*
fi

# transformers eager, same shapes, hooks caching on the GPU, then copied to
# the host as glia's Result arrays are (bf16 only, for the cost of the copy).
step bench_hf 300 python3 scripts/hf_bench.py --batch "$BATCH" --seq "$SEQ" --iters 5
step bench_hf_to_host 150 python3 scripts/hf_bench.py --batch "$BATCH" --seq "$SEQ" --iters 3 --dtype bf16 --to-host

# results.json: every step's JSON output, by step.
python3 - "$R" <<'EOF' || log "results.json: assembly failed"
import glob, json, os, sys
R = sys.argv[1]
res = {"steps": json.load(open(os.path.join(R, "steps.json"))), "env": open(os.path.join(R, "env.txt")).read()[-4000:]}
for out in sorted(glob.glob(os.path.join(R, "*.out"))):
    name = os.path.basename(out)[:-4]
    rows = []
    for line in open(out):
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    if name.startswith("parity"):  # keep the table small: drop per-check lists
        for r in rows:
            r.pop("checks", None)
    res[name] = rows
summary = {}
for k, v in res.items():
    if k.startswith("bench") and v:
        for r in v:
            if "tokens_per_s" in r:
                key = "%s %s %s" % ("hf" if k.startswith("bench_hf") else "glia", r.get("shape") or k.split("_")[2], r.get("dtype"))
                if k == "bench_hf_to_host":
                    key += " to-host"
                summary[key] = round(r["tokens_per_s"])
    if k.startswith("parity") and v:
        summary[k] = {r["fixture"]: [r.get("ok"), r.get("logits_maxdiff"), r.get("logits_vs_saved")] for r in v}
    if k.startswith("long4096") and v:
        summary[k] = {"mean_s": v[0].get("mean_s"), "tokens_per_s": v[0].get("tokens_per_s")}
res["summary"] = summary
json.dump(res, open(os.path.join(R, "results.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
EOF
log "gpu-check: done in $(( $(date +%s) - START ))s"
