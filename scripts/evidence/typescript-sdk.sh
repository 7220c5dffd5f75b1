#!/usr/bin/env bash
# Evidence snapshot of Phala's official TypeScript SDK (npm @phala/cloud):
# every SDK action that sends a Phala Cloud API request, in every API version
# the SDK supports, with the request it sends and the zod schema it validates
# the answer with (as JSON Schema). Writes xtask/evidence/sdk-typescript.json
# by running the SDK's own code against a recording server on 127.0.0.1
# (scripts/evidence/extract_typescript_sdk.mjs says how).
#
# Needs the npm registry (it installs exact pinned versions into
# target/evidence-npm with npm itself), so it runs only when asked; CI
# compares the committed snapshot offline. Running it twice gives the same
# bytes.
#
#   scripts/evidence/typescript-sdk.sh [OUTPUT]   (default xtask/evidence/sdk-typescript.json)
#
# Versions: @phala/cloud 0.2.9 is the newest on the registry and the one the
# CLI phala 1.1.18 depends on (^0.2.9). zod is pinned to the version npm
# resolves the SDK's ^3.24.1 to; the SDK's schemas are zod v3 ones, so they
# are converted with zod-to-json-schema (zod's own toJSONSchema is for v4).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-xtask/evidence/sdk-typescript.json}"
. scripts/evidence/npm-install.sh
cp scripts/evidence/extract_typescript_sdk.mjs "$dir/extract_typescript_sdk.mjs"
node "$dir/extract_typescript_sdk.mjs" "$out_abs"
