#!/usr/bin/env bash
# Phala's official Python SDK (phala-cloud on PyPI, pinned) against the
# running simulator: every method that sends a request (reads, deploys with
# a sealed env, updates, SSH keys, lifecycle, the state watch over SSE) must
# pass the SDK's own (pydantic) validation in every API version it supports;
# the calls, the few that must fail and the disagreements with the
# TypeScript SDK, each with why, are in official-python-sdk-check.py.
# Installs the SDK into a local virtualenv (target/python-sdk-venv) itself:
# the wheel without its dependencies (pysha3 does not build on Python 3.11
# and only get_mr_config_id imports it), then the two the client needs, and
# dstack-sdk, also without its dependencies, for the SDK's env sealing and
# compose hashing helpers (with `cryptography`, which also opens our sealed
# env, and the eth-keys and eth-utils its package imports). SIM_BIN names a
# simulator binary built already (see start-sim.sh).
#
#   scripts/official-python-sdk-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sdk_version="0.2.0"
venv=target/python-sdk-venv
if ! "$venv/bin/python" -c "import phala_cloud, httpx, pydantic, cryptography, dstack_sdk" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-deps "phala-cloud==$sdk_version" "dstack-sdk==0.5.4"
    "$venv/bin/pip" install --quiet "httpx==0.28.1" "pydantic==2.12.5" "cryptography==46.0.3" \
        "eth-keys==0.7.0" "eth-utils==5.3.1"
fi
. scripts/start-sim.sh --cvms 200 --time-scale 20 --api-key sdk-check-key
PHALA_SIM_URL="$url" PHALA_SIM_KEY=sdk-check-key "$venv/bin/python" scripts/official-python-sdk-check.py

# Our env sealing, opened by the reference's primitives (dstack-sdk's own
# dependency, `cryptography`), to the key of the recorded vectors.
vectors=crates/phala-cloud/tests/vectors/env_key.json
env_file=crates/phala-cvm/examples/app.env
pubkey=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["env_public_key"])' "$vectors")
sealed=$(cargo run --quiet --locked -p phala-cvm -- env encrypt --pubkey "$pubkey" --env-file "$env_file")
"$venv/bin/python" scripts/reference-env-open.py "$vectors" "$sealed" "$env_file"
