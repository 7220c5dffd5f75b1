#!/usr/bin/env bash
# Evidence snapshot of what Phala's CLI (npm phala, pinned) sends to the Phala
# Cloud API: for each command, the method and path template of each request
# (with X-Phala-Version, query and body keys, and the SDK action behind it),
# and the flags its log commands add to the log endpoint URLs. Writes
# xtask/evidence/cli-phala.json by running the CLI against a fake API on
# 127.0.0.1 (scripts/evidence/extract_phala_cli.mjs says how); what cannot be
# run (past an on-chain transaction) is read from the CLI's bundled code and
# marked "found_by": "source".
#
# The fake API answers from the SDK snapshot, so run
# scripts/evidence/typescript-sdk.sh first when the SDK changes.
#
# Needs the npm registry (it installs exact pinned versions into
# target/evidence-npm with npm itself), so it runs only when asked; CI
# compares the committed snapshot offline. Running it twice gives the same
# bytes.
#
#   scripts/evidence/phala-cli.sh [OUTPUT]   (default xtask/evidence/cli-phala.json)
#
# phala 1.1.18 depends on @phala/cloud ^0.2.9 (0.2.9 is the newest on the
# registry) and bundles the SDK's code into its dist/index.js.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-xtask/evidence/cli-phala.json}"
sdk_snapshot=xtask/evidence/sdk-typescript.json
# The same pins and install as scripts/evidence/typescript-sdk.sh.
. scripts/evidence/npm-install.sh
[ -f "$sdk_snapshot" ] || { echo "missing $sdk_snapshot: run scripts/evidence/typescript-sdk.sh first" >&2; exit 1; }
cp scripts/evidence/extract_phala_cli.mjs "$dir/extract_phala_cli.mjs"
node "$dir/extract_phala_cli.mjs" "$(pwd)/$sdk_snapshot" "$out_abs"
