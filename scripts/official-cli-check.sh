#!/usr/bin/env bash
# Phala's official CLI (npm `phala`, pinned) against the simulator: what an
# operator runs every day must work there as it does against Phala Cloud.
# Each command must exit 0 and print what it is expected to print; the
# first that does not ends the check with its output. Installs the CLI into
# target/official-cli with npm itself.
#
#   scripts/official-cli-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cli_version="1.1.18"
dir=target/official-cli
if [ ! -f "$dir/node_modules/phala/dist/index.js" ]; then
    mkdir -p "$dir"
    (cd "$dir" && echo '{"private":true}' > package.json \
        && npm install --silent --no-audit --no-fund "phala@$cli_version" >/dev/null)
fi
phala_js="$PWD/$dir/node_modules/phala/dist/index.js"
. scripts/start-sim.sh --cvms 40 --time-scale 100 --api-key cli-check-key
work=$(mktemp -d)
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$sim_log"; rm -rf "$work"' EXIT
export PHALA_CLOUD_API_KEY=cli-check-key PHALA_CLOUD_API_PREFIX="$url/api/v1" \
    PHALA_CLOUD_DIR="$work/credentials" PHALA_DISABLE_UPDATE_CHECK=1 CI=1 NO_COLOR=1
cp crates/phala-cvm/examples/compose.yml "$work/docker-compose.yml"
printf 'API_KEY=rotated\nGREETING=hello\n' > "$work/new.env"
cd "$work"

passed=0
# check EXPECTED COMMAND...: the command exits 0 and its output holds EXPECTED.
check() {
    local expected=$1
    shift
    local out
    if ! out=$(timeout 120 node "$phala_js" "$@" 2>&1) || ! grep -qF -- "$expected" <<<"$out"; then
        echo "FAIL: phala $* (expected \"$expected\")"
        echo "$out" | tail -30
        exit 1
    fi
    echo "ok: phala $*"
    passed=$((passed + 1))
}

# Reads.
check "alice (main-team)" whoami
check "APP_ID" cvms list
check "web-1-0" cvms get web-1-0
check "tdx.small" instance-types
check "dstack-0.5.3" os-images
check "prod1-us-west" nodes list
check "\"tcb_info\"" cvms attestation web-1-0 --json
# Deploy (create, then update by id), sealed env, lifecycle, resize.
check "cli-check-app" deploy -c docker-compose.yml -n cli-check-app -e API_KEY=x -e GREETING=hi --no-dev-os
check "CVM updated successfully" deploy --cvm-id cli-check-app -c docker-compose.yml -e API_KEY=y -e GREETING=bye
check "Environment update initiated" envs update cli-check-app -e new.env
check "being stopped" cvms stop cli-check-app
check "being started" cvms start cli-check-app
check "being restarted" cvms restart cli-check-app
check "\"allow_restart\": true" cvms resize cli-check-app -v 2 -m 4096 -d 80 -r true --json
# Containers and logs of a running CVM.
running=$(node "$phala_js" cvms list --json | python3 -c 'import json, sys
d = json.load(sys.stdin)
items = d.get("items", d) if isinstance(d, dict) else d
print(next(c["cvmName"] for c in items if c.get("status") == "running"))')
check "running" ps "$running"
check "app:" logs --cvm-id "$running" -n 5
check "systemd" logs --serial --cvm-id "$running"
# The device login `phala login` runs (RFC 8628; the simulator approves at
# once), without the key from the environment; it writes the credentials.
PHALA_CLOUD_API_KEY= check "Credentials saved successfully" login --no-open
grep -qF '"current_profile": "main-team"' "$work/credentials/credentials.json" \
    || { echo "FAIL: phala login wrote no profile"; exit 1; }
echo "Phala's CLI $cli_version against the simulator: $passed commands passed"
