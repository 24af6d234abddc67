#!/usr/bin/env bash
# Train chemvlm-mini's graph head (configs/train/graph.yaml, docs/graph.md) on a GPU machine that has PyTorch
# and transformers but no RDKit and no package registry: the recipe with GPU-sized settings, drawn pictures
# made there by the data loader's CPU workers, real drawings carried.
#   scripts/train-graph-gpu.sh CARRIED OUT MINUTES [INIT]
# CARRIED holds an RDKit wheel for the machine's Python (and lib/ with X11 client libraries), a run's
# molecules.json and real.json, and real.tar.gz (the real drawings' folder, as named in real.json); OUT
# receives the merged checkpoint (bf16) with its graph head as one tar, log.jsonl and train.out.
set -uo pipefail
carried=$1 out=$2 minutes=$3 init=${4:-src/chemvlm/assets/chemvlm-mini}
python=${PYTHON:-python3}
run=${RUN:-/tmp/graph-run}
mkdir -p "$out" "$run" /tmp/real
if ! "$python" -c "import rdkit" 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$carried"/rdkit-*.whl || exit 1
fi
workers=${WORKERS:-$(( $(nproc) - 2 ))}
mkdir -p /tmp/missing-libs
for lib in "$carried"/lib/*; do
    [ -e "$lib" ] && { ldconfig -p | grep -q "$(basename "$lib") " || ln -sf "$(realpath "$lib")" /tmp/missing-libs/; }
done
export LD_LIBRARY_PATH=/tmp/missing-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
tar -xzf "$carried/real.tar.gz" -C /tmp/real || exit 1
cp "$carried/molecules.json" "$run/"
# the real rows name their files where they were fitted: point them at the unpacked copy
"$python" - "$carried/real.json" "$run/real.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
for side in ("train", "holdout"):
    for row in rows[side]:
        for key in ("image", "molfile"):
            row[key] = "/tmp/real/uspto/" + row[key].split("/uspto/", 1)[1]
json.dump(rows, open(sys.argv[2], "w"))
PY
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
echo "$workers drawing workers; carried libraries used: $(ls /tmp/missing-libs)"
cat > "$run/recipe.yaml" <<YAML
model: $init
output_dir: $run
stage: {base: graph, optimizer: {lr: ${LR_VISION:-1e-3}, warmup_ratio: 100, lr_groups: {graph_head: ${LR_HEAD:-2e-3}}}}
data:
  drawn: {molecules: [../shared/data/molecules.csv.gz, src/chemvlm/data/corpus/molecules.csv],
          max_heavy: 60, holdout: 0.02, eval_size: 300, degrade: 0.5, graph_size: 448,
          real: [/tmp/real/uspto], real_share: ${REAL_SHARE:-0.3}}
  packing: false
  group_by_length: false
  num_workers: $workers
losses: {graph: 1.0}
per_device_batch: ${BATCH:-64}
max_steps: 1000000  # the time budget ends the run; the schedule spans the budget
minutes: $minutes
save_steps: 500
save_total_limit: 1
logging_steps: 20
eval: {every_steps: ${EVAL_EVERY:-500}}
threads: 4
bf16: false
merged_dtype: bfloat16
YAML
"$python" -m chemvlm train "$run/recipe.yaml" 2>&1 | tee "$out/train.out"
tar -C "$run" -cf "$out/chemvlm-mini-graph.tar" merged
cp "$run/log.jsonl" "$out/" 2>/dev/null
grep '"eval/drawn_exact"' "$run/log.jsonl" | cut -c1-400
