#!/usr/bin/env bash
# Phala's official TypeScript SDK (@phala/cloud, pinned) against the running
# simulator: every simulated operation it has an action for must pass the
# SDK's own response validation (its zod schemas), in both API versions it
# supports. Installs the SDK into target/official-sdk with npm itself.
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
. scripts/start-sim.sh --cvms 60 --time-scale 1 --api-key sdk-check-key
PHALA_SIM_URL="$url" PHALA_SIM_KEY=sdk-check-key node "$dir/check.mjs"
