# Sourced by the scripts that drive the simulator binary: builds it, starts
# it in the background with the given arguments (plus --port 0), stops it on
# exit, and sets `url` to where it listens.
#
#   . scripts/start-sim.sh --cvms 60 --time-scale 100 --api-key KEY
# The binary is where cargo says it put it (CARGO_TARGET_DIR or the config
# may send it anywhere), read from its JSON build messages; SIM_BIN, when
# set, names a binary built already and skips the build.
if [ -n "${SIM_BIN:-}" ]; then
    sim_bin=$SIM_BIN
else
    sim_bin=$(cargo build --quiet --locked -p phala-cloud-sim --bin phala-cloud-sim \
        --message-format=json-render-diagnostics |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "phala-cloud-sim" and m.get("executable"):
        print(m["executable"])')
fi
[ -x "$sim_bin" ] || { echo "no simulator binary (cargo reported none, or SIM_BIN is not executable)"; exit 1; }
sim_log=$(mktemp)
"$sim_bin" --port 0 "$@" >"$sim_log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$sim_log"' EXIT
url=
for _ in $(seq 50); do
    url=$(sed -n 's/^Phala Cloud simulator listening on \(http[^ ]*\).*/\1/p' "$sim_log")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "simulator did not start:"; cat "$sim_log"; exit 1; }
