"""Phala's official Python SDK (phala-cloud, PyPI) as a client of our simulator.

Every SDK method that sends a request (the methods of
xtask/evidence/sdk-python.json; its `skipped` list names the ones that send
none: on-chain helpers, transport helpers, `safe_*` wrappers) is called in
each API version the SDK supports, with the SDK's own pydantic validation on:
a call the SDK rejects is a failure. Writes are real: an SSH key is created
and deleted, CVMs are provisioned and committed with an env sealed by the
SDK's own helper (dstack-sdk's encrypt_env_vars), updated, replicated and
deleted. Run by scripts/official-python-sdk-check.sh with PHALA_SIM_URL and
PHALA_SIM_KEY set.

Where the two official SDKs disagree about an older version, the SDK that
defaulted to it (TypeScript 0.2.9, default 2026-01-21) is the evidence and
the simulator answers as it expects (openapi.overlay.json says which); the
Python SDK's validation of those answers is skipped, by name, below. A call
that must fail is written with `fails`, with the status it must get and why.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback

import httpx
import pydantic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dstack_sdk import EnvVar
from phala_cloud import SUPPORTED_API_VERSIONS, ApiError, create_client, encrypt_env_vars, get_compose_hash

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
    ("2025-10-28", "commit_cvm_provision"): "Python expects a string id; TypeScript the integer of its commit answer",
    ("2025-10-28", "get_app_device_allowlist"): "Python expects string cvm_ids; TypeScript integers",
    ("2025-10-28", "replicate_cvm"): "Python expects a string id; TypeScript the integer of VM",
    ("2025-10-28", "check_cvm_is_allowed"): "Python expects a string cvm_id; TypeScript the integer of IsAllowedResult",
    ("2025-10-28", "check_app_cvms_is_allowed"): "Python expects string cvm_ids; TypeScript the integers of IsAllowedResult",
    ("2025-10-28", "refresh_cvm_instance_id"): "Python expects a string cvm_id; TypeScript the integer of InstanceIdRefreshResult",
    ("2025-10-28", "refresh_cvm_instance_ids"): "Python expects string cvm_ids; TypeScript the integers of InstanceIdRefreshResult",
    ("2025-10-28", "create_app_instance"): "Python expects CVMInfo; TypeScript the VM of its createAppInstance",
    ("2026-01-21", "create_app_instance"): "Python expects CVMInfo; TypeScript the VM of its createAppInstance",
    # Only Python covers the newer versions; the document's answer is VM and
    # the overlay keeps it (xtask/evidence/known.json acknowledges this).
    ("2026-05-22", "create_app_instance"): "Python expects CVMInfo; the document and TypeScript say VM",
    ("2026-06-23", "create_app_instance"): "Python expects CVMInfo; the document and TypeScript say VM",
    ("2026-01-21", "get_cvm_info"): "Python expects an integer id; TypeScript the hashed id of CVMInfoDetail",
    ("2026-01-21", "get_cvm_state"): "Python expects an integer id; TypeScript the hashed one",
}

passed = 0
failed = 0
disagreed = 0
unserved = 0


def check(version: str, name: str, call, label: str | None = None):
    """Runs one SDK call; any exception (validation included) is a failure,
    except the SDK's validation error on a call listed in DISAGREEMENTS (the
    request was still sent and answered). A 501 is a failure too: an
    operation the simulator does not serve yet."""
    global passed, failed, disagreed, unserved
    shown = f"{label or name} ({version})"
    try:
        result = call()
    except Exception as e:  # noqa: BLE001 - every rejection is reported
        if (version, name) in DISAGREEMENTS and isinstance(e, pydantic.ValidationError):
            disagreed += 1
            print(f"disagreement {shown}: {DISAGREEMENTS[(version, name)]}")
            return None
        failed += 1
        if isinstance(e, ApiError) and e.status_code == 501:
            unserved += 1
            print(f"FAIL {shown}: 501, the simulator does not serve this operation yet", file=sys.stderr)
            return None
        lines = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
        more = f" ... ({len(lines) - 6} more lines)" if len(lines) > 6 else ""
        print(f"FAIL {shown}: " + "\n  ".join(lines[:6]) + more, file=sys.stderr)
        return None
    passed += 1
    return result


def fails(version: str, name: str, call, status: int, why: str, label: str | None = None):
    """Runs one SDK call that must be refused with `status` (the SDK's
    ApiError): the refusal passes; an answer, or another status, fails."""
    global passed, failed, unserved
    shown = f"{label or name} ({version})"
    try:
        call()
    except ApiError as e:
        if e.status_code == status:
            passed += 1
            return
        failed += 1
        if e.status_code == 501:
            unserved += 1
            print(f"FAIL {shown}: 501, the simulator does not serve this operation yet", file=sys.stderr)
            return
        print(f"FAIL {shown}: answered {e.status_code} ({e}), must be {status}: {why}", file=sys.stderr)
        return
    except Exception as e:  # noqa: BLE001
        failed += 1
        print(f"FAIL {shown}: {type(e).__name__}: {e}; must be refused with {status}: {why}", file=sys.stderr)
        return
    failed += 1
    print(f"FAIL {shown}: answered, must be refused with {status}: {why}", file=sys.stderr)


def raw(method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"X-API-Key": KEY, "X-Phala-Version": "2026-01-21"}
    return httpx.request(method, f"{BASE}{path}", headers=headers, timeout=30, **kwargs)


def fleet() -> list[dict]:
    """The fleet as the 2026-01-21 list gives it: hashed ids and statuses."""
    r = raw("GET", "/cvms")
    r.raise_for_status()
    return r.json()


def idle(status: str, taken: set[str]) -> dict:
    """A CVM in `status` with nothing in progress that no check used yet."""
    for cvm in fleet():
        if cvm["status"] == status and not cvm.get("in_progress") and cvm["id"] not in taken:
            taken.add(cvm["id"])
            return cvm
    raise SystemExit(f"the simulated fleet has no idle {status} CVM left")


def settle(cvm_id: str, seconds: float = 90) -> dict | None:
    """Waits until the CVM has nothing in progress (an update restarts it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = raw("GET", f"/cvms/{cvm_id}")
        if r.status_code == 200:
            cvm = r.json()
            if not cvm.get("in_progress") and cvm.get("status") in ("running", "stopped"):
                return cvm
        time.sleep(0.25)
    print(f"note: {cvm_id} still busy after {seconds}s", file=sys.stderr)
    return None


def expect(version: str, what: str, ok: bool):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} ({version})", file=sys.stderr)


def field(obj, name: str, default=None):
    """A field of an SDK answer, model or dict alike."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def seal(env: dict[str, str], pubkey: str) -> str:
    """The env sealed to the app's key by the SDK's own helper."""
    return asyncio.run(encrypt_env_vars([EnvVar(k, v) for k, v in env.items()], pubkey))


COMPOSE = """services:
  web:
    image: nginx:1.27
    ports:
      - "80:80"
    environment:
      - GREETING=${GREETING}
"""
TX_HASH = "0x" + "ab" * 32
# A fresh ed25519 key in OpenSSH form.
SSH_KEY = Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " sdk-check"


taken: set[str] = set()
for version in SUPPORTED_API_VERSIONS:
    client = create_client(api_key=KEY, base_url=BASE, version=version)
    tag = version.replace("-", "")
    everyone = fleet()
    running = idle("running", taken)
    stopped = idle("stopped", taken)

    # --- The account and the catalogue.
    me = check(version, "get_current_user", lambda: client.get_current_user())
    workspaces = check(version, "list_workspaces", lambda: client.list_workspaces())
    slug = "main-team"
    if workspaces is not None:
        slugs = [field(w, "slug") for w in field(workspaces, "data", [])]
        expect(version, "the workspaces list the caller's", len(slugs) > 0)
        slug = slugs[0] if slugs else slug
    team = check(version, "get_workspace", lambda: client.get_workspace(slug))
    if team is not None:
        expect(version, "the workspace is the one asked for", field(team, "slug") == slug)
    check(version, "get_workspace_nodes", lambda: client.get_workspace_nodes({"teamSlug": slug, "page": 1, "page_size": 10}))
    check(version, "get_workspace_quotas", lambda: client.get_workspace_quotas({"team_slug": slug}))
    nodes = check(version, "get_available_nodes", lambda: client.get_available_nodes())
    node_ids = [n.teepod_id for n in nodes.nodes] if nodes is not None else []
    expect(version, "nodes are available", len(node_ids) > 0)
    node_id = node_ids[-1] if node_ids else None
    check(version, "get_cvm_create_resources", lambda: client.get_cvm_create_resources())
    families = check(version, "list_all_instance_type_families", lambda: client.list_all_instance_type_families())
    family = "cpu"
    if families is not None:
        names = [field(f, "name") for f in field(families, "result", [])]
        expect(version, "the instance types have a cpu family", "cpu" in names)
    cpu = check(version, "list_family_instance_types", lambda: client.list_family_instance_types({"family": family}))
    if cpu is not None:
        expect(version, "the cpu family lists tdx.small",
               any(field(t, "id") == "tdx.small" for t in field(cpu, "items", [])))
    images = check(version, "get_os_images", lambda: client.get_os_images({"page": 1, "page_size": 10}))
    check(version, "get_os_images", lambda: client.get_os_images({"is_dev": True}), "get_os_images, dev only")
    kms_list = check(version, "get_kms_list", lambda: client.get_kms_list({"page": 1, "page_size": 10}))
    kms_id = kms_list.items[0].id if kms_list is not None and kms_list.items else "kms_phalaprod"
    contracts = check(version, "list_kms_contracts", lambda: client.list_kms_contracts())
    kms_slug = field(field(contracts, "items", [None])[0], "slug") if contracts is not None else None
    kms_slug = kms_slug or "phala-prod"
    check(version, "get_kms_contract", lambda: client.get_kms_contract(kms_slug))
    check(version, "list_kms_contract_nodes", lambda: client.list_kms_contract_nodes(kms_slug))
    kms = check(version, "get_kms_info", lambda: client.get_kms_info({"kms_id": kms_id}))
    if kms is not None:
        expect(version, "get_kms_info answers the KMS asked for", field(kms, "id") == kms_id)
    pubkey = check(version, "get_app_env_encrypt_pub_key",
                   lambda: client.get_app_env_encrypt_pub_key({"kms": kms_id, "app_id": running["app_id"]}))
    if pubkey is not None:
        expect(version, "the app's env key is the one its CVMs name",
               field(pubkey, "public_key") == running["kms_info"]["encrypted_env_pubkey"])
    ids = check(version, "next_app_ids", lambda: client.next_app_ids({"counts": 3}))
    if ids is not None:
        expect(version, "next_app_ids answers as many as asked", len(field(ids, "app_ids", [])) == 3)
    check(version, "get_kms_on_chain_detail", lambda: client.get_kms_on_chain_detail({"chain": "base"}))

    # --- The CVM list and what one CVM holds.
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
    check(version, "get_cvm_compose_file", lambda: client.get_cvm_compose_file({"id": running["id"]}))
    check(version, "get_cvm_pre_launch_script", lambda: client.get_cvm_pre_launch_script({"id": running["id"]}))
    network = check(version, "get_cvm_network", lambda: client.get_cvm_network({"id": running["id"]}))
    if network is not None:
        expect(version, "a running CVM is online", getattr(network, "is_online", None) is True)
    check(version, "get_cvm_stats", lambda: client.get_cvm_stats({"id": running["id"]}))
    check(version, "get_cvm_containers_stats", lambda: client.get_cvm_containers_stats({"id": running["id"]}))
    check(version, "get_cvm_attestation", lambda: client.get_cvm_attestation({"id": running["id"]}))
    offered = check(version, "get_available_os_images", lambda: client.get_available_os_images({"id": running["id"]}))
    if offered is not None:
        expect(version, "a CVM is offered OS images", len(offered) > 0)
    config = check(version, "get_cvm_user_config", lambda: client.get_cvm_user_config({"id": running["id"]}))
    if config is not None:
        expect(version, "the user config names the host", getattr(config, "hostname", None) == running["name"])
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": running["id"]}))
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": stopped["id"]}), "get_cvm_state of a stopped CVM")
    statuses = check(version, "get_cvm_status_batch",
                     lambda: client.get_cvm_status_batch({"vm_uuids": [c["vm_uuid"] for c in everyone]}))
    if statuses is not None:
        expect(version, "status batch answers every uuid", len(statuses) == len(everyone))

    # --- Apps.
    app_id = running["app_id"]
    apps = check(version, "get_app_list", lambda: client.get_app_list({"page": 1, "page_size": 50}))
    if apps is not None:
        expect(version, "the app list holds the fleet's apps",
               any(field(a, "app_id") == app_id for a in field(apps, "dstack_apps", [])))
    check(version, "get_app_filter_options", lambda: client.get_app_filter_options())
    app = check(version, "get_app_info", lambda: client.get_app_info({"app_id": app_id}))
    if app is not None:
        expect(version, "get_app_info answers the app asked for", field(app, "app_id") == app_id)
    check(version, "get_app_cvms", lambda: client.get_app_cvms({"app_id": app_id}))
    check(version, "get_app_attestation", lambda: client.get_app_attestation({"app_id": app_id}))
    check(version, "get_app_device_allowlist", lambda: client.get_app_device_allowlist({"app_id": app_id}))
    check(version, "get_app_revisions", lambda: client.get_app_revisions({"app_id": app_id, "page": 1, "page_size": 10}))

    # --- SSH keys: one created, listed, deleted; GitHub imports.
    key = check(version, "create_ssh_key",
                lambda: client.create_ssh_key({"name": f"sdk-check-{tag}", "public_key": SSH_KEY}))
    keys = check(version, "list_ssh_keys", lambda: client.list_ssh_keys())
    if keys is not None and key is not None:
        expect(version, "the new SSH key is listed", any(field(k, "id") == field(key, "id") for k in keys))
    if key is not None:
        check(version, "delete_ssh_key", lambda: client.delete_ssh_key({"key_id": field(key, "id")}))
        fails(version, "delete_ssh_key", lambda: client.delete_ssh_key({"key_id": field(key, "id")}), 404,
              "a key deleted already is not found", "delete_ssh_key, the same key again")
    check(version, "import_github_profile_ssh_keys",
          lambda: client.import_github_profile_ssh_keys({"github_username": "octocat"}))
    check(version, "sync_github_ssh_keys", lambda: client.sync_github_ssh_keys())
    keys = check(version, "list_ssh_keys", lambda: client.list_ssh_keys(), "list_ssh_keys after the imports")

    # --- Deploy: provision, seal the env to the app's key, commit.
    deploy_name = f"sdk-py-{tag}"
    app_compose = {"name": deploy_name, "docker_compose_file": COMPOSE, "allowed_envs": ["GREETING"],
                   "gateway_enabled": True, "kms_enabled": True, "public_logs": True, "public_sysinfo": True}
    provision = check(version, "provision_cvm", lambda: client.provision_cvm({
        "name": deploy_name, "instance_type": "tdx.small", "node_id": node_id, "kms_id": kms_id,
        "image": "dstack-0.5.3", "disk_size": 20, "listed": False, "compose_file": app_compose,
        "env_keys": ["GREETING"]}))
    deployed = None
    if provision is not None:
        sealed = seal({"GREETING": "hello"}, field(provision, "app_env_encrypt_pubkey"))
        commit = {"app_id": field(provision, "app_id"), "compose_hash": field(provision, "compose_hash"),
                  "kms_id": kms_id, "encrypted_env": sealed, "env_keys": ["GREETING"]}
        made = check(version, "commit_cvm_provision", lambda: client.commit_cvm_provision(commit))
        # The CVM committed, as the 2026-01-21 list gives it (also where
        # the SDK rejected the answer: the commit was still made).
        hosted = raw("GET", f"/apps/{field(provision, 'app_id')}/cvms").json()
        expect(version, "the commit made one CVM of the app", len(hosted) == 1)
        if hosted:
            deployed = hosted[0]
            again = check(version, "commit_cvm_provision", lambda: client.commit_cvm_provision(commit),
                          "commit_cvm_provision again (idempotent)")
            if again is not None and made is not None:
                expect(version, "the same commit again answers the same CVM", field(again, "id") == field(made, "id"))
    if deployed is not None:
        cid = deployed["id"]
        settle(cid)
        held = check(version, "get_cvm_compose_file", lambda: client.get_cvm_compose_file({"id": cid}),
                     "get_cvm_compose_file of the deployed CVM")
        if held is not None:
            expect(version, "the deployed CVM holds the compose committed",
                   field(held, "docker_compose_file") == COMPOSE and field(held, "allowed_envs") == ["GREETING"])
        revisions = check(version, "get_app_revisions",
                          lambda: client.get_app_revisions({"app_id": deployed["app_id"]}),
                          "get_app_revisions of the deployed app")
        rev_items = [r for r in (field(revisions, "revisions", []) if revisions is not None else [])
                     if field(r, "vm_uuid") == deployed["vm_uuid"]]
        expect(version, "the deploy is a revision of its app", len(rev_items) == 1)
        if rev_items:
            rid = field(rev_items[0], "revision_id")
            detail = check(version, "get_app_revision_detail", lambda: client.get_app_revision_detail(
                {"app_id": deployed["app_id"], "revision_id": rid, "raw_compose_file": True}))
            if detail is not None:
                expect(version, "the revision has the committed compose hash",
                       field(detail, "compose_hash") == field(provision, "compose_hash"))
                # The SDK's own hash (dstack-sdk's get_compose_hash) of the compose the revision holds.
                raw_compose = field(detail, "compose_file")
                expect(version, "the SDK hashes the revision's compose to its compose hash",
                       isinstance(raw_compose, str) and get_compose_hash(json.loads(raw_compose)) == field(provision, "compose_hash"))

        # The two-step compose update: provision the new compose, then commit it with a new env.
        updated = COMPOSE.replace("nginx:1.27", "nginx:1.28")
        new_compose = {**app_compose, "docker_compose_file": updated}
        update = check(version, "provision_cvm_compose_file_update", lambda: client.provision_cvm_compose_file_update(
            {"id": cid, "app_compose": new_compose, "update_env_vars": True}))
        if update is not None:
            expect(version, "the update's compose hash is another", update.compose_hash != field(provision, "compose_hash"))
            check(version, "commit_cvm_compose_file_update", lambda: client.commit_cvm_compose_file_update(
                {"id": cid, "compose_hash": update.compose_hash, "env_keys": ["GREETING"],
                 "encrypted_env": seal({"GREETING": "hi"}, field(provision, "app_env_encrypt_pubkey")),
                 "update_env_vars": True}))
            settle(cid)
            text = check(version, "get_cvm_docker_compose", lambda: client.get_cvm_docker_compose({"id": cid}),
                         "get_cvm_docker_compose after the update")
            if text is not None:
                expect(version, "the update's compose is the one held", "nginx:1.28" in text)
        fails(version, "commit_cvm_compose_file_update", lambda: client.commit_cvm_compose_file_update(
            {"id": cid, "compose_hash": "00" * 32}), 400,
            "a compose hash no update provisioned is refused", "commit_cvm_compose_file_update, a hash not provisioned")
        settle(cid)
        envs = check(version, "update_cvm_envs", lambda: client.update_cvm_envs({
            "id": cid, "encrypted_env": seal({"GREETING": "hey", "LEVEL": "3"}, field(provision, "app_env_encrypt_pubkey")),
            "env_keys": ["GREETING", "LEVEL"]}))
        if envs is not None:
            expect(version, "the envs update is in progress", field(envs, "status") == "in_progress")
        settle(cid)
        dc = check(version, "update_docker_compose", lambda: client.update_docker_compose(
            {"id": cid, "docker_compose_file": COMPOSE.replace("nginx:1.27", "nginx:1.29")}))
        if dc is not None:
            expect(version, "the docker-compose update is in progress", field(dc, "status") == "in_progress")
        settle(cid)
        script = "#!/bin/sh\necho sdk-check\n"
        pls = check(version, "update_pre_launch_script",
                    lambda: client.update_pre_launch_script({"id": cid, "pre_launch_script": script}))
        if pls is not None:
            expect(version, "the pre-launch script update is in progress", field(pls, "status") == "in_progress")
        settle(cid)
        got = check(version, "get_cvm_pre_launch_script", lambda: client.get_cvm_pre_launch_script({"id": cid}),
                    "get_cvm_pre_launch_script after the update")
        if got is not None and pls is not None:
            expect(version, "the pre-launch script is the one set", got == script)
        patched = check(version, "patch_cvm", lambda: client.patch_cvm({"id": cid, "public_logs": False,
                                                                          "pre_launch_script": "#!/bin/sh\n"}))
        if patched is not None:
            expect(version, "an off-chain app's patch needs no on-chain hash", patched["requires_on_chain_hash"] is False)
        settle(cid)
        replica = check(version, "replicate_cvm", lambda: client.replicate_cvm({"id": cid, "node_id": node_ids[0]}))
        if replica is not None:
            expect(version, "the replica runs the same app", field(replica, "app_id") in (deployed["app_id"], None))
        instance = check(version, "create_app_instance", lambda: client.create_app_instance(
            {"app_id": deployed["app_id"], "name": f"{deploy_name}-i", "node_id": node_id}))
        if instance is not None:
            expect(version, "the new instance runs the same app", field(instance, "app_id") == deployed["app_id"])
        check(version, "check_cvm_is_allowed", lambda: client.check_cvm_is_allowed({"cvm_id": cid, "node_id": node_id}))
        check(version, "check_app_is_allowed", lambda: client.check_app_is_allowed(
            {"app_id": deployed["app_id"], "compose_hash": field(provision, "compose_hash"), "node_id": node_id}))
        check(version, "check_app_cvms_is_allowed", lambda: client.check_app_cvms_is_allowed({"app_id": deployed["app_id"]}))
        # The SDK's docstring: another compose for an app committed already is a 409.
        other = check(version, "provision_cvm", lambda: client.provision_cvm({
            "name": deploy_name, "app_id": deployed["app_id"], "kms_id": kms_id,
            "compose_file": {**app_compose, "docker_compose_file": COMPOSE + "  # other\n"}}),
            "provision_cvm, another compose for the same app")
        if other is not None:
            fails(version, "commit_cvm_provision",
                  lambda: client.commit_cvm_provision({"app_id": deployed["app_id"], "kms_id": kms_id,
                                                       "compose_hash": field(other, "compose_hash")}),
                  409, "another compose_hash for an app_id committed already is CVM_APP_ID_CONFLICT",
                  "commit_cvm_provision, another compose for the same app")

    # --- An app whose KMS is on chain: updates wait for their hash registered there.
    onchain_name = f"sdk-py-{tag}-oc"
    oc_compose = {"name": onchain_name, "docker_compose_file": COMPOSE, "allowed_envs": ["GREETING"]}
    oc = check(version, "provision_cvm", lambda: client.provision_cvm(
        {"name": onchain_name, "instance_type": "tdx.small", "kms": "base", "compose_file": oc_compose}),
        "provision_cvm, on-chain KMS")
    if oc is not None:
        made = check(version, "commit_cvm_provision", lambda: client.commit_cvm_provision({
            "app_id": field(oc, "app_id"), "compose_hash": field(oc, "compose_hash"),
            "contract_address": "0x" + field(oc, "app_id"), "deployer_address": "0x" + "12" * 20,
            "encrypted_env": seal({"GREETING": "chain"}, field(oc, "app_env_encrypt_pubkey")),
            "env_keys": ["GREETING"]}), "commit_cvm_provision, on-chain KMS")
        hosted = raw("GET", f"/apps/{field(oc, 'app_id')}/cvms").json()
        if hosted:
            ocid = hosted[0]["id"]
            settle(ocid)
            need = check(version, "patch_cvm", lambda: client.patch_cvm(
                {"id": ocid, "docker_compose_file": COMPOSE.replace("nginx:1.27", "nginx:1.30")}),
                "patch_cvm, on-chain KMS")
            if need is not None:
                expect(version, "an on-chain app's patch waits for its hash", need["requires_on_chain_hash"] is True)
                confirmed = check(version, "confirm_cvm_patch", lambda: client.confirm_cvm_patch(
                    {"id": ocid, "compose_hash": need["compose_hash"], "transaction_hash": TX_HASH}))
                if confirmed is not None:
                    expect(version, "the confirmed patch names its operation", bool(confirmed["correlation_id"]))
            settle(ocid)
            sealed = seal({"GREETING": "chain2"}, field(oc, "app_env_encrypt_pubkey"))
            pre = check(version, "update_cvm_envs", lambda: client.update_cvm_envs(
                {"id": ocid, "encrypted_env": sealed, "env_keys": ["GREETING", "EXTRA"]}),
                "update_cvm_envs, on-chain KMS, new keys")
            if pre is not None:
                expect(version, "new env keys of an on-chain app wait for their hash",
                       field(pre, "status") == "precondition_required")
                settle(ocid)
                done = check(version, "update_cvm_envs", lambda: client.update_cvm_envs(
                    {"id": ocid, "encrypted_env": sealed, "env_keys": ["GREETING", "EXTRA"],
                     "compose_hash": field(pre, "compose_hash"), "transaction_hash": TX_HASH}),
                    "update_cvm_envs, on-chain KMS, hash registered")
                if done is not None:
                    expect(version, "the registered env update is in progress", field(done, "status") == "in_progress")
            settle(ocid)
            dc = check(version, "update_docker_compose", lambda: client.update_docker_compose(
                {"id": ocid, "docker_compose_file": COMPOSE.replace("nginx:1.27", "nginx:1.31")}),
                "update_docker_compose, on-chain KMS")
            if dc is not None:
                expect(version, "an on-chain app's compose update waits for its hash",
                       field(dc, "status") == "precondition_required")
            check(version, "check_cvm_is_allowed", lambda: client.check_cvm_is_allowed(
                {"cvm_id": ocid, "compose_hash": field(oc, "compose_hash")}), "check_cvm_is_allowed, on-chain KMS")

    # --- Settings of idle CVMs.
    vis = idle("running", taken)
    shown = check(version, "update_cvm_visibility", lambda: client.update_cvm_visibility(
        {"id": vis["id"], "public_sysinfo": False, "public_logs": True, "public_tcbinfo": False}))
    if shown is not None:
        expect(version, "the visibility is the one set",
               field(shown, "public_sysinfo") is False and field(shown, "public_logs") is True)
    check(version, "update_cvm_resources", lambda: client.update_cvm_resources(
        {"id": idle("stopped", taken)["id"], "instance_type": "tdx.medium", "allow_restart": True}))
    image = next((i.name for i in images.items if i.name != running["os"]["name"]), "dstack-0.5.3") \
        if images is not None and images.items else "dstack-0.5.3"
    check(version, "update_os_image", lambda: client.update_os_image({"id": idle("running", taken)["id"], "os_image_name": image}))
    fails(version, "update_os_image", lambda: client.update_os_image(
        {"id": idle("running", taken)["id"], "os_image_name": "dstack-9.9.9"}), 400,
        "an image not in the catalogue is refused", "update_os_image, an unknown image")
    refreshed = check(version, "refresh_cvm_instance_id",
                      lambda: client.refresh_cvm_instance_id({"id": running["id"], "dry_run": True}))
    check(version, "refresh_cvm_instance_ids", lambda: client.refresh_cvm_instance_ids(
        {"cvm_ids": [running["id"], stopped["id"]], "running_only": False, "dry_run": True, "limit": 10}))

    # --- Lifecycle.
    check(version, "start_cvm", lambda: client.start_cvm({"id": stopped["id"]}))
    check(version, "get_cvm_state", lambda: client.get_cvm_state({"id": stopped["id"]}), "get_cvm_state while starting")
    check(version, "shutdown_cvm", lambda: client.shutdown_cvm({"id": running["id"]}))
    check(version, "get_cvm_status_batch",
          lambda: client.get_cvm_status_batch({"vm_uuids": [c["vm_uuid"] for c in everyone]}),
          "get_cvm_status_batch in transitions")
    check(version, "stop_cvm", lambda: client.stop_cvm({"id": idle("running", taken)["id"]}))
    check(version, "restart_cvm", lambda: client.restart_cvm({"id": idle("running", taken)["id"], "force": True}))
    check(version, "delete_cvm", lambda: client.delete_cvm({"id": idle("running", taken)["id"]}))
    if deployed is not None:
        check(version, "delete_cvm", lambda: client.delete_cvm({"id": deployed["id"]}), "delete_cvm of the deployed CVM")
    # Watching over SSE: a stopped CVM started, watched until running.
    watched = idle("stopped", taken)
    check(version, "start_cvm", lambda: client.start_cvm({"id": watched["id"]}), "start_cvm to watch")
    done = check(version, "watch_cvm_state",
                 lambda: client.watch_cvm_state({"id": watched["id"], "target": "running", "interval": 5,
                                                 "timeout": 60, "maxRetries": 0, "retryDelay": 0}))
    if done is not None:
        expect(version, "the watch ends with the target status", getattr(done, "status", None) == "running")

print(f"official Python SDK checks: {passed} passed, {failed} failed ({unserved} of them 501, not served yet), "
      f"{disagreed} rejected where the SDKs disagree")
sys.exit(0 if failed == 0 else 1)
