"""Phala's official Python SDK (phala-cloud, PyPI) as a client of our simulator.

Every SDK method that maps to an operation we simulate is called in each API
version the SDK supports, with the SDK's own pydantic validation on: a call
the SDK rejects is a failure. Run by scripts/official-python-sdk-check.sh
with PHALA_SIM_URL and PHALA_SIM_KEY set.

Where the two official SDKs disagree about an older version, the SDK that
defaulted to it (TypeScript 0.2.9, default 2026-01-21) is the evidence and
the simulator answers as it expects (openapi.overlay.json says which); the
Python SDK's validation of those answers is skipped, by name, below.
"""

from __future__ import annotations

import os
import sys
import traceback

import httpx
import pydantic
from phala_cloud import SUPPORTED_API_VERSIONS, create_client

BASE = f"{os.environ['PHALA_SIM_URL']}/api/v1"
KEY = os.environ["PHALA_SIM_KEY"]

# (version, call) pairs where the Python SDK expects what the TypeScript SDK,
# whose default that version was, contradicts. Python 0.2.0 maps 2025-10-28
# to the 2026-05-22 models (string ids) and types the 2026-01-21 detail with
# an integer id; TypeScript 0.2.9 validates integer lifecycle ids in both
# older versions and the hashed-id detail at 2026-01-21.
DISAGREEMENTS = {
    ("2025-10-28", "get_cvm_info"): "Python expects a string id; TypeScript the integer of CvmBasicInfo",
    ("2025-10-28", "start_cvm"): "Python expects a string id; TypeScript the integer of VM",
    ("2025-10-28", "shutdown_cvm"): "Python expects a string id; TypeScript the integer of VM",
    ("2025-10-28", "stop_cvm"): "Python expects a string id; TypeScript the integer of VM",
    ("2025-10-28", "restart_cvm"): "Python expects a string id; TypeScript the integer of VM",
    ("2025-10-28", "get_app_cvms"): "Python expects CVMInfo items; TypeScript the HostedCvm of this version",
    ("2026-01-21", "get_cvm_info"): "Python expects an integer id; TypeScript the hashed id of CVMInfoDetail",
    ("2026-01-21", "get_cvm_state"): "Python expects an integer id; TypeScript the hashed one",
}

passed = 0
failed = 0
disagreed = 0


def check(version: str, name: str, call, label: str | None = None):
    """Runs one SDK call; any exception (validation included) is a failure,
    except the SDK's validation error on a call listed in DISAGREEMENTS (the
    request was still sent and answered)."""
    global passed, failed, disagreed
    shown = f"{label or name} ({version})"
    try:
        result = call()
    except Exception as e:  # noqa: BLE001 - every rejection is reported
        if (version, name) in DISAGREEMENTS and isinstance(e, pydantic.ValidationError):
            disagreed += 1
            print(f"disagreement {shown}: {DISAGREEMENTS[(version, name)]}")
            return None
        failed += 1
        lines = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
        more = f" ... ({len(lines) - 6} more lines)" if len(lines) > 6 else ""
        print(f"FAIL {shown}: " + "\n  ".join(lines[:6]) + more, file=sys.stderr)
        return None
    passed += 1
    return result


def fleet() -> list[dict]:
    """The fleet as the 2026-01-21 list gives it: hashed ids and statuses."""
    r = httpx.get(f"{BASE}/cvms", headers={"X-API-Key": KEY, "X-Phala-Version": "2026-01-21"})
    r.raise_for_status()
    return r.json()


def idle(status: str, taken: set[str]) -> dict:
    """A CVM in `status` with nothing in progress that no check used yet."""
    for cvm in fleet():
        if cvm["status"] == status and not cvm.get("in_progress") and cvm["id"] not in taken:
            taken.add(cvm["id"])
            return cvm
    raise SystemExit(f"the simulated fleet has no idle {status} CVM left")


def expect(version: str, what: str, ok: bool):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} ({version})", file=sys.stderr)


taken: set[str] = set()
for version in SUPPORTED_API_VERSIONS:
    client = create_client(api_key=KEY, base_url=BASE, version=version)
    everyone = fleet()
    running = idle("running", taken)
    stopped = idle("stopped", taken)

    check(version, "get_cvm_list", lambda: client.get_cvm_list({"page": 1, "page_size": 100}))
    check(version, "get_cvm_list", lambda: client.get_cvm_list({"page": 2, "page_size": 7}), "get_cvm_list, a later page")
    if version >= "2026-05-22":
        gpu = check(version, "get_cvm_list", lambda: client.get_cvm_list({"family": "gpu", "page_size": 100}), "get_cvm_list, family gpu")
        if gpu is not None:
            # The simulated fleet runs TDX CPU instances only.
            expect(version, "family gpu selects none of the simulated CPU instances", gpu.total == 0 and not gpu.items)
        small = check(version, "get_cvm_list",
                      lambda: client.get_cvm_list({"instance_types": ["tdx.small", "tdx.medium"], "page_size": 100}),
                      "get_cvm_list, instance_types")
        if small is not None:
            expect(version, "instance_types selects those types",
                   small.total > 0 and all(c.resource.instance_type in ("tdx.small", "tdx.medium") for c in small.items))
    check(version, "get_cvm_info", lambda: client.get_cvm_info({"id": running["id"]}))
    # The reads the simulator answers about what it holds.
    compose = check(version, "get_cvm_docker_compose", lambda: client.get_cvm_docker_compose({"id": running["id"]}))
    if compose is not None:
        expect(version, "the docker-compose file is YAML text", "services:" in compose)
    check(version, "get_cvm_pre_launch_script", lambda: client.get_cvm_pre_launch_script({"id": running["id"]}))
    network = check(version, "get_cvm_network", lambda: client.get_cvm_network({"id": running["id"]}))
    if network is not None:
        expect(version, "a running CVM is online", getattr(network, "is_online", None) is True)
    check(version, "get_cvm_stats", lambda: client.get_cvm_stats({"id": running["id"]}))
    config = check(version, "get_cvm_user_config", lambda: client.get_cvm_user_config({"id": running["id"]}))
    if config is not None:
        expect(version, "the user config names the host", getattr(config, "hostname", None) == running["name"])
    keys = check(version, "list_ssh_keys", lambda: client.list_ssh_keys())
    if keys is not None:
        expect(version, "no SSH key is registered", keys == [])
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": running["id"]}))
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": stopped["id"]}), "get_cvm_state of a stopped CVM")
    statuses = check(version, "get_cvm_status_batch",
                     lambda: client.get_cvm_status_batch({"vm_uuids": [c["vm_uuid"] for c in everyone]}))
    if statuses is not None:
        expect(version, "status batch answers every uuid", len(statuses) == len(everyone))
    check(version, "get_app_cvms", lambda: client.get_app_cvms({"app_id": running["app_id"]}))
    check(version, "start_cvm", lambda: client.start_cvm({"id": stopped["id"]}))
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": stopped["id"]}), "get_cvm_state while starting")
    check(version, "shutdown_cvm", lambda: client.shutdown_cvm({"id": running["id"]}))
    check(version, "get_cvm_status_batch",
          lambda: client.get_cvm_status_batch({"vm_uuids": [c["vm_uuid"] for c in everyone]}),
          "get_cvm_status_batch in transitions")
    check(version, "stop_cvm", lambda: client.stop_cvm({"id": idle("running", taken)["id"]}))
    check(version, "restart_cvm", lambda: client.restart_cvm({"id": idle("running", taken)["id"], "force": True}))
    check(version, "delete_cvm", lambda: client.delete_cvm({"id": idle("running", taken)["id"]}))
    # Watching over SSE: a stopped CVM started, watched until running.
    watched = idle("stopped", taken)
    check(version, "start_cvm", lambda: client.start_cvm({"id": watched["id"]}), "start_cvm to watch")
    done = check(version, "watch_cvm_state",
                 lambda: client.watch_cvm_state({"id": watched["id"], "target": "running", "interval": 5,
                                                 "timeout": 60, "maxRetries": 0, "retryDelay": 0}))
    if done is not None:
        expect(version, "the watch ends with the target status", getattr(done, "status", None) == "running")

print(f"official Python SDK checks: {passed} passed, {failed} failed, {disagreed} rejected where the SDKs disagree")
sys.exit(0 if failed == 0 else 1)
