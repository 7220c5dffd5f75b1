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
cargo build --quiet --locked -p phala-cloud-sim
log=$(mktemp)
./target/debug/phala-cloud-sim --port 0 --cvms 60 --time-scale 1 --api-key sdk-check-key >"$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do
    url=$(sed -n 's/^Phala Cloud simulator listening on \(http[^ ]*\).*/\1/p' "$log")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "${url:-}" ] || { echo "simulator did not start:"; cat "$log"; exit 1; }
PHALA_SIM_URL="$url" PHALA_SIM_KEY=sdk-check-key node "$dir/check.mjs"
