#!/usr/bin/env bash
# Phala's official TypeScript SDK (@phala/cloud, pinned) against the running
# simulator: every action that sends a Phala Cloud API request (reads,
# deploys, updates, SSH keys, lifecycle) must pass the SDK's own response
# validation (its zod schemas), in both API versions it supports; the calls
# and the few that must fail, with why, are in official-sdk-check.mjs.
# Installs the SDK into target/official-sdk with npm itself. SIM_BIN names a
# simulator binary built already (see start-sim.sh).
#
#   scripts/official-sdk-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sdk_version="0.2.9"
dir=target/official-sdk
if [ ! -d "$dir/node_modules/@phala/cloud" ]; then
    mkdir -p "$dir"
    (cd "$dir" && echo '{"private":true,"type":"module"}' > package.json \
        && npm install --silent --no-audit --no-fund "@phala/cloud@$sdk_version" >/dev/null)
fi
cp scripts/official-sdk-check.mjs "$dir/check.mjs"
. scripts/start-sim.sh --cvms 200 --time-scale 20 --api-key sdk-check-key
PHALA_SIM_URL="$url" PHALA_SIM_KEY=sdk-check-key node "$dir/check.mjs"
