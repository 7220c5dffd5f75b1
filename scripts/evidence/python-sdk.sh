#!/usr/bin/env bash
# Evidence snapshot of Phala's official Python SDK (PyPI `phala-cloud`,
# pinned): for every SDK method that sends a request, in every API version
# the SDK supports, the HTTP method, path template, X-Phala-Version sent,
# query and JSON body keys, and the JSON Schema of the response model the SDK
# validates the answer with. Writes xtask/evidence/sdk-python.json (format:
# xtask/evidence/README.md).
#
# Runs the SDK's own code offline (scripts/evidence/extract_python_sdk.py: a
# recording httpx transport answers every request), but installing it needs
# the package registry (PyPI): run it only when asked, to refresh the
# snapshot after a version bump, and commit the result. CI never runs this;
# it compares the committed snapshot offline (`cargo xtask spec evidence`).
#
# The virtualenv (target/evidence-python-venv) holds pinned packages only,
# each installed without dependency resolution: the SDK without its declared
# dependencies (pysha3 does not build on Python 3.11, and neither it nor
# dstack-sdk is imported by the client), then httpx and pydantic with the
# exact packages they import.
#
#   scripts/evidence/python-sdk.sh            # PYTHON=python3.11 to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/../.."

python=${PYTHON:-python3}
venv=target/evidence-python-venv
out=xtask/evidence/sdk-python.json

sdk="phala-cloud==0.2.0"
pins=(
    "httpx==0.28.1"
    "httpcore==1.0.9"
    "h11==0.16.0"
    "anyio==4.16.0"
    "idna==3.21"
    "certifi==2026.10.19.post1"
    "pydantic==2.12.5"
    "pydantic-core==2.41.5"
    "annotated-types==0.8.0"
    "typing-extensions==4.16.0"
    "typing-inspection==0.4.5"
)
stamp="$venv/evidence-pins.txt"
wanted=$(printf '%s\n' "$sdk" "${pins[@]}")
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: --no-deps "$sdk"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: --no-deps "${pins[@]}"
    printf '%s\n' "$wanted" >"$stamp"
fi

env -u PHALA_CLOUD_API_KEY -u PHALA_CLOUD_API_PREFIX PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
    "$venv/bin/python" scripts/evidence/extract_python_sdk.py --out "$out"
