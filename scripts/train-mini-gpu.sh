#!/usr/bin/env bash
# Train chemvlm-mini on a GPU machine that has PyTorch and transformers but no RDKit and no package registry
# (docs/mini.md, "On a GPU machine"). Pictures are drawn there by CPU worker processes.
#   scripts/train-mini-gpu.sh CARRIED OUT MINUTES [INIT]
# CARRIED holds an RDKit wheel for the machine's Python and a run's molecules.json; OUT receives the exported
# checkpoint as one tar file, log.jsonl and train.out; MINUTES is the training time (the learning-rate
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
cp "$carried/molecules.json" "$run/"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
"$python" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"; echo "$workers drawing workers; carried libraries used: $(ls /tmp/missing-libs)"
config="MiniConfig(molecules=['src/chemvlm/data/corpus/molecules.csv'], out='$run', images=10**9,
    minutes=$minutes, batch_size=${BATCH:-128}, lr_vision=${LR_VISION:-4e-3}, lr_text=${LR_TEXT:-1.5e-3},
    warmup_steps=100, workers=$workers, threads=4, eval_every=${EVAL_EVERY:-200000}, eval_size=300,
    save_minutes=2, init='$init')"
"$python" -c "from chemvlm.mini.train import MiniConfig, train; print(train($config))" 2>&1 | tee "$out/train.out"
# export whatever state.pt holds, also after a failed run
"$python" -c "from chemvlm.mini.train import MiniConfig, export; export($config, '$run/ckpt')" &&
    tar -C "$run" -cf "$out/chemvlm-mini.tar" ckpt
cp "$run/log.jsonl" "$out/" 2>/dev/null
grep '"kind": "eval"' "$run/log.jsonl" | cut -c1-400
