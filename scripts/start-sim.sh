# Sourced by the scripts that drive the simulator binary: builds it, starts
# it in the background with the given arguments (plus --port 0), stops it on
# exit, and sets `url` to where it listens.
#
#   . scripts/start-sim.sh --cvms 60 --time-scale 100 --api-key KEY
cargo build --quiet --locked -p phala-cloud-sim
sim_log=$(mktemp)
./target/debug/phala-cloud-sim --port 0 "$@" >"$sim_log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$sim_log"' EXIT
url=
for _ in $(seq 50); do
    url=$(sed -n 's/^Phala Cloud simulator listening on \(http[^ ]*\).*/\1/p' "$sim_log")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "simulator did not start:"; cat "$sim_log"; exit 1; }
