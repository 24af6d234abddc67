#!/usr/bin/env bash
# Train chemvlm-mini on a GPU machine that has PyTorch and transformers but no RDKit and no package registry
# (docs/mini.md, "On a GPU machine"): configs/train/mini.yaml's recipe with GPU-sized settings, pictures drawn
# there by the data loader's CPU worker processes.
#   scripts/train-mini-gpu.sh CARRIED OUT MINUTES [INIT]
# CARRIED holds an RDKit wheel for the machine's Python and a run's molecules.json; OUT receives the merged
# checkpoint (bf16) as one tar file, log.jsonl and train.out; MINUTES is the training time (the learning-rate
# schedule spans it); INIT is the checkpoint to start from (default: the bundled model).
set -uo pipefail
carried=$1 out=$2 minutes=$3 init=${4:-src/chemvlm/assets/chemvlm-mini}
python=${PYTHON:-python3}
run=${RUN:-/tmp/mini-run}
mkdir -p "$out" "$run"
"$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$carried"/rdkit-*.whl || exit 1
workers=${WORKERS:-$(( $(nproc) - 2 ))}
# RDKit's drawing library needs X11 client libraries that a bare image may lack: CARRIED/lib holds them,
# and only those the machine does not have are used
mkdir -p /tmp/missing-libs
for lib in "$carried"/lib/*; do
    ldconfig -p | grep -q "$(basename "$lib") " || ln -sf "$(realpath "$lib")" /tmp/missing-libs/
done
export LD_LIBRARY_PATH=/tmp/missing-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1  # drawing workers need no thread pools
cp "$carried/molecules.json" "$run/"  # the molecule lists: the molecule files themselves stay behind
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
"$python" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"; echo "$workers drawing workers; carried libraries used: $(ls /tmp/missing-libs)"
vision=${LR_VISION:-4e-3}
cat > "$run/recipe.yaml" <<YAML
model: $init
output_dir: $run
stage: {base: mini, optimizer: {lr: ${LR_TEXT:-1.5e-3}, warmup_ratio: 100,
        lr_groups: {vision: $vision, projector: $vision, patch_head: $vision}}}
data:
  drawn: {molecules: [../shared/data/molecules.csv.gz, src/chemvlm/data/corpus/molecules.csv],
          max_heavy: 20, holdout: 0.02, eval_size: 300}
  packing: false
  group_by_length: false
  num_workers: $workers
losses: {answer: 1.0, patch_classes: 1.0}
per_device_batch: ${BATCH:-128}
max_steps: 1000000  # the time budget ends the run; the schedule spans the budget
minutes: $minutes
save_steps: 500
save_total_limit: 1
logging_steps: 20
eval: {every_steps: ${EVAL_EVERY:-1500}}
threads: 4
bf16: false
merged_dtype: bfloat16
YAML
"$python" -m chemvlm train "$run/recipe.yaml" 2>&1 | tee "$out/train.out"
# OUTPUT/merged is written at the end of the run (also when the time budget ends it)
tar -C "$run" -cf "$out/chemvlm-mini.tar" merged
cp "$run/log.jsonl" "$out/" 2>/dev/null
grep '"eval/exact"' "$run/log.jsonl" | cut -c1-400
