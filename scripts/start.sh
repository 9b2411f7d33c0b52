#!/usr/bin/env bash
# Sets everything up, then starts the Distill Lab app on http://localhost:8501 (offline default).
#   bash scripts/start.sh                 localhost only
#   bash scripts/start.sh --room          a workshop room: listens on the network, prints the URL and an instructor
#                                         key; visitors may start their own runs (see README "Room mode")
# Other arguments go to `streamlit run` (e.g. --server.port 8502).
set -euo pipefail
cd "$(dirname "$0")/.."

room=0
args=()
port=8501
previous=""
for arg in "$@"; do
  case "$arg" in
    --room) room=1 ;;
    --server.port=*) port="${arg#*=}"; args+=("$arg") ;;
    *) [ "$previous" = "--server.port" ] && port="$arg"; args+=("$arg") ;;
  esac
  previous="$arg"
done

bash scripts/setup.sh

if [ "$room" = 1 ]; then
  export DISTILL_LAB_ROOM=1
  if [ -z "${DISTILL_LAB_INSTRUCTOR_KEY:-}" ]; then
    DISTILL_LAB_INSTRUCTOR_KEY="$(.venv/bin/python -c 'from distill_core.runs.room import new_instructor_key as k; print(k())')"
    export DISTILL_LAB_INSTRUCTOR_KEY
  fi
  addresses="$(hostname -I 2>/dev/null || true)"
  echo
  echo "  Distill Lab in room mode. Attendees open:"
  for address in ${addresses:-localhost}; do
    case "$address" in *:*) continue ;; esac  # IPv4 only: what a room types
    echo "      http://$address:$port"
  done
  echo "  Instructor key (enter it in the sidebar; shown only here): $DISTILL_LAB_INSTRUCTOR_KEY"
  echo "  Visitors: ${DISTILL_LAB_ROOM_RUNS_PER_PERSON:-1} run(s) at a time each, hub downloads" \
       "$([ "${DISTILL_LAB_ROOM_ALLOW_HUB:-}" = 1 ] && echo allowed || echo off), uploads up to" \
       "${DISTILL_LAB_ROOM_UPLOAD_MIB:-10} MiB."
  echo "  (on this machine: http://localhost:$port)"
  echo
  # Streamlit's own banner would look up this machine's public address on the internet: the lines above say it all.
  exec .venv/bin/streamlit run app.py --server.address 0.0.0.0 --logger.hideWelcomeMessage true "${args[@]}"
fi
exec .venv/bin/streamlit run app.py "${args[@]}"
