#!/usr/bin/env bash
# Schemathesis against the running simulator with the bundled openapi.json.
# Installs schemathesis into a local virtualenv (target/conformance-venv) itself.
#
#   scripts/conformance.sh [MAX_EXAMPLES]
#
# The document tested is the bundled one with the overlay applied (`cargo
# xtask spec overlaid`): every operation the simulator serves, the 18 only
# the official SDKs and CLI call included.
#
# Excluded checks: status_code_conformance. Phala's document does not declare
# the 401/403/404/400 answers its service really gives (see
# ../shared/docs/phala-cloud-api-notes.md); the simulator gives them too.
# positive_data_acceptance: the service validates beyond the schema, with
# the rules only in prose (a CVM name is "5-63 chars, must start with
# letter", an instance type must exist, a commit needs a provision), so
# schema-valid requests are refused (422/400/404) there and here alike.
# Everything else (no server errors, bodies and content types as documented)
# must pass. It runs at 2026-01-21, an answer's shape per version being a
# union the overlay describes; crates/phala-cloud-sim/tests/fidelity/
# checks every version strictly. The operations tested are those the
# simulator lists (`phala-cloud-sim --list-operations`: all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-25}"
venv=target/conformance-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
mkdir -p target/conformance
overlaid=target/conformance/openapi.overlaid.json
cargo run --quiet --locked -p xtask -- spec overlaid --out "$overlaid"
. scripts/start-sim.sh --cvms 60 --time-scale 100 --api-key conformance-key
include=()
while IFS= read -r op; do
    include+=(--include-name "$op")
done < <("$sim_bin" --list-operations)
[ "${#include[@]}" -gt 0 ] || { echo "the simulator listed no operations"; exit 1; }
"$venv/bin/schemathesis" run "$overlaid" --url "$url" "${include[@]}" \
    -H "X-API-Key: conformance-key" -H "X-Phala-Version: 2026-01-21" \
    --exclude-checks status_code_conformance,positive_data_acceptance \
    --max-examples "$examples" --seed 1
