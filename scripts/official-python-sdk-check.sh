#!/usr/bin/env bash
# Phala's official Python SDK (phala-cloud on PyPI, pinned) against the
# running simulator: list, info, state, batch status, app CVMs, start, stop,
# shutdown, restart, delete and the state watch over SSE must pass the SDK's
# own (pydantic) validation in every API version it supports. Installs the
# SDK into a local virtualenv (target/python-sdk-venv) itself: the wheel
# without its dependencies (pysha3 does not build on Python 3.11 and only
# get_mr_config_id imports it; dstack-sdk only its crypto helpers), then the
# two the client needs.
#
#   scripts/official-python-sdk-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sdk_version="0.2.0"
venv=target/python-sdk-venv
if ! "$venv/bin/python" -c "import phala_cloud, httpx, pydantic" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-deps "phala-cloud==$sdk_version"
    "$venv/bin/pip" install --quiet "httpx==0.28.1" "pydantic==2.12.5"
fi
. scripts/start-sim.sh --cvms 200 --time-scale 20 --api-key sdk-check-key
PHALA_SIM_URL="$url" PHALA_SIM_KEY=sdk-check-key "$venv/bin/python" scripts/official-python-sdk-check.py
