#!/usr/bin/env bash
# Sets everything up, then starts the Distill Lab app on http://localhost:8501 (offline default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
