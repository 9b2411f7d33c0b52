#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (unit, UI, end-to-end on the offline default, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test drives Debian's chromium through Playwright (Playwright's own browser download needs the
# internet). Install it when missing and we may (root, as in CI); otherwise the browser test says what to run.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[test] installing chromium for the browser test (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
