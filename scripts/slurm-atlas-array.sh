#!/bin/bash
# Runs `glia atlas build` as a real Slurm job array on a single-node cluster
# (Debian's slurm-wlm), merges the slices and checks that the merged atlas
# agrees with one build as closely as two plain builds agree with each other.
# Not run by CI: it needs root, the slurm-wlm and munge packages, and the
# munged, slurmctld and slurmd daemons. Usage, as root:
#
#   apt-get install -y slurm-wlm
#   GOEXPERIMENT=simd go build -o bin/glia ./cmd/glia
#   scripts/slurm-atlas-array.sh bin/glia [N]
set -euo pipefail
# One matmul kernel everywhere: otherwise a start-up timing race may pick
# another one in a loaded task, with other float rounding.
export GLIA_KERNELS=glia
glia=$(realpath "$1")
n=${2:-3}
dir=$(mktemp -d /tmp/glia-slurm.XXXXXX)
host=$(hostname -s)
cat > "$dir/slurm.conf" <<CONF
ClusterName=glia
SlurmctldHost=$host
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/d
StateSaveLocation=$dir/ctld
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$host CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldLogFile=$dir/ctld.log
SlurmdLogFile=$dir/d.log
CONF
mkdir -p "$dir/d" "$dir/ctld" "$dir/shards" /run/munge
chown munge:munge /run/munge
export SLURM_CONF=$dir/slurm.conf
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
/usr/sbin/slurmctld -c
/usr/sbin/slurmd -c
trap 'kill $(cat "$dir/slurmd.pid" "$dir/slurmctld.pid") 2>/dev/null || true' EXIT
for _ in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
cd "$dir"
cat > atlas.sbatch <<JOB
#!/bin/bash
#SBATCH --array=0-$((n - 1))
#SBATCH --cpus-per-task=1
#SBATCH --export=ALL
#SBATCH --output=$dir/shards/atlas-%a.log
$glia atlas build --max-tokens 6000 --ctx 64 --out $dir/shards/atlas-\$SLURM_ARRAY_TASK_ID.db --resume
JOB
t0=$(date +%s)
sbatch --wait atlas.sbatch
echo "job array of $n tasks done in $(( $(date +%s) - t0 ))s"
cat shards/atlas-0.log
"$glia" atlas merge shards/*.db --out atlas.db
"$glia" atlas build --max-tokens 6000 --ctx 64 --out one.db > /dev/null 2>&1
"$glia" atlas build --max-tokens 6000 --ctx 64 --out two.db > /dev/null 2>&1
# The engine's float32 results vary in their last bits from run to run
# (parallel summation order), so two plain builds already differ there: the
# merged atlas is held to what two plain builds agree on.
compare() {
  python3 - "$glia" "$1" "$2" <<'PY'
import json, subprocess, sys
glia, a, b = sys.argv[1:]
def units(db):
    out = subprocess.run([glia, "atlas", "export", "--db", db, "--format", "jsonl"], capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]
def examples(u):
    ex = u["top"] + u["random"] + [e for bd in u["bands"] for e in bd["examples"]]
    return ex
same_pos = same_counts = n = 0
dmax = 0.0
for x, y in zip(units(a), units(b)):
    n += 1
    same_counts += x["count"] == y["count"] and x["n_pos"] == y["n_pos"]
    ex, ey = examples(x), examples(y)
    if [(e["shard"], e["window"], e["pos"]) for e in ex] == [(e["shard"], e["window"], e["pos"]) for e in ey]:
        same_pos += 1
        for p, q in zip(ex, ey):
            dmax = max([dmax] + [abs(s - t) for s, t in zip(p["acts"], q["acts"])])
print(f"{a} vs {b}: {n} units; counts equal in {same_counts}; every example at the same position in {same_pos}; max |delta act| there {dmax:.2g}")
PY
}
compare atlas.db one.db
compare two.db one.db
strip() { "$glia" atlas export --db "$1" --format jsonl | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    for k in ("mean", "var", "std"): r.pop(k)
    print(json.dumps(r, sort_keys=True))'; }
if cmp -s <(strip atlas.db) <(strip one.db); then
  echo "OK: the merged job array exports what one build exports (mean, var and std aside: summation order)"
else
  echo "DIFFERENT: the merged atlas and one build differ beyond mean, var and std"; exit 1
fi
