"""Writes the overlay actions that add the operations no published document
lists but Phala's own tools call, their answers taken from the committed
evidence (xtask/evidence/sdk-python.json: the Python SDK's pydantic models,
as its own dispatch chooses them per API version).

Offline and deterministic: reads the snapshot, rewrites the actions of
openapi.overlay.json whose description starts with MARK (and only those),
in place, keeping every other action as it is.

    python3 scripts/evidence/overlay_operations.py

What cannot come from the snapshot is in OPERATIONS below, each with its
evidence: operation ids, tags, parameter types (the snapshot records query
keys, not their types) and request bodies (the SDK's request models).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "xtask/evidence/sdk-python.json"
TS_SNAPSHOT = ROOT / "xtask/evidence/sdk-typescript.json"
OVERLAY = ROOT / "openapi.overlay.json"
DOCUMENT = ROOT / "openapi.json"
MARK = "Evidence-only operation"

PY = "PyPI phala-cloud 0.2.0"
CLI = "npm phala 1.1.18 dist/index.js"


def query(name, schema, why):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": why}


# Evidence names that would read as a published schema's once made Rust
# names (typify: `KMSInfo` and `KmsInfo` are both `KmsInfo`).
RENAME = {"KmsInfo": "NodeKmsInfo", "AvailableOSImage": "NodeOsImage"}

# Where the SDKs disagree, the more specific model both accept wins; each
# entry says why. (method, path) -> (component name, source).
ANSWERS = {
    # Python's CvmContainersResponse is skeletal (every field optional, extra
    # allowed); @phala/cloud 0.2.9's CvmContainersStatsSchema names the
    # containers and their log endpoints, which Phala's CLI reads (ps, logs).
    ("get", "/cvms/{cvm_id}/composition"): ("CvmComposition", ("typescript", "CvmContainersStatsSchema")),
    # Python's CvmVisibilityResponse is skeletal (an optional `status`);
    # @phala/cloud 0.2.9 reads the CVM's detail, as GET /cvms/{id} answers it.
    ("patch", "/cvms/{cvm_id}/visibility"): (None, ("document", "/api/v1/cvms/{cvm_id}")),
}

PAGE = query("page", {"type": "integer", "minimum": 1}, "Page number, from 1.")
PAGE_SIZE = query("page_size", {"type": "integer", "minimum": 1}, "Items per page.")

# (method, SDK path, path parameters, operation id, tag, summary, query
# parameters, request body name and schema, evidence for what the snapshot lacks).
OPERATIONS = [
    ("get", "/auth/me", [], "get_current_user", "Account",
     "The user, workspace and credentials the request authenticates as (Phala's CLI: whoami, status).",
     [], None, None, f"{PY} full_client.get_current_user; npm phala 1.1.18 whoami"),
    ("get", "/workspaces", [], "list_workspaces", "Account",
     "The workspaces the user belongs to.",
     [], None, None, f"{PY} full_client.list_workspaces"),
    ("get", "/workspaces/{team_slug}", ["team_slug"], "get_workspace", "Account",
     "One workspace, by slug.",
     [], None, None, f"{PY} full_client.get_workspace"),
    ("get", "/workspaces/{team_slug}/nodes", ["team_slug"], "get_workspace_nodes", "Account",
     "The nodes a workspace can deploy to, paged.",
     [PAGE, PAGE_SIZE], None, None, f"{PY} full_client.get_workspace_nodes (WorkspaceNodesRequest: page, page_size)"),
    ("get", "/workspaces/{team_slug}/quotas", ["team_slug"], "get_workspace_quotas", "Account",
     "A workspace's quotas and what it uses of them.",
     [], None, None, f"{PY} full_client.get_workspace_quotas"),
    ("get", "/teepods/available", [], "get_available_nodes", "Nodes",
     "The nodes (teepods) available to deploy on, with their images and KMS (Phala's CLI: nodes, replicate --node).",
     [query("v03x_only", {"type": "boolean"}, "Only nodes that run the legacy (v0.3) deploy.")], None, None,
     f"{PY} full_client.get_available_nodes; {CLI} (`teepods/available?v03x_only=1` for cvms create)"),
    ("get", "/teepods/cvm-create-resources", [], "get_cvm_create_resources", "Nodes",
     "What a deploy can choose: nodes, KMS, gateways and instance types.",
     [], None, None, f"{PY} full_client.get_cvm_create_resources"),
    ("get", "/os-images", [], "list_os_images", "Nodes",
     "The OS images, paged (Phala's CLI: os-images).",
     [query("is_dev", {"type": "boolean"}, "Only development (or only production) images."), PAGE, PAGE_SIZE],
     None, None, f"{PY} full_client.get_os_images (GetOsImagesRequest: is_dev: bool, page, page_size)"),
    ("get", "/kms/{kms_id}/nodes", ["kms_id"], "list_kms_contract_nodes", "KMS",
     "The nodes of a KMS contract (API 2026-06-23: the KMS API is contract-centric).",
     [], None, None, f"{PY} client.list_kms_contract_nodes (pins X-Phala-Version 2026-06-23)"),
    ("get", "/cvms/{cvm_id}/composition", ["cvm_id"], "get_cvm_composition", "CVMs",
     "The CVM's containers, each with its log endpoint (Phala's CLI: ps, logs).",
     [], None, None, f"{PY} full_client.get_cvm_containers_stats"),
    ("patch", "/cvms/{cvm_id}/visibility", ["cvm_id"], "update_cvm_visibility", "CVMs",
     "Which of the CVM's logs and system information are public.",
     [], "CvmVisibilityRequest", {"type": "object", "required": ["public_sysinfo", "public_logs"], "properties": {
         "public_sysinfo": {"type": "boolean"},
         "public_logs": {"type": "boolean"},
         "public_tcbinfo": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
     }}, f"{PY} full_client.UpdateVisibilityRequest"),
    ("post", "/cvms/{cvm_id}/is-allowed", ["cvm_id"], "check_cvm_is_allowed", "CVMs",
     "Whether the app's on-chain contract allows this CVM's compose hash and device.",
     [], "CvmIsAllowedRequest", {"type": "object", "properties": {
         "compose_hash": {"anyOf": [{"type": "string"}, {"type": "null"}]},
         "node_id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
         "device_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
     }}, f"{PY} models/cvms.py CheckCvmIsAllowedRequest"),
    ("patch", "/cvms/{cvm_id}/resources", ["cvm_id"], "update_cvm_resources", "CVMs",
     "Resize the CVM: vCPUs, memory (MB), disk (GB) or instance type; a running CVM restarts only when allowed (Phala's CLI: cvms resize).",
     [], "CvmResourcesRequest", {"type": "object", "properties": {
         "vcpu": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "memory": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "disk_size": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "instance_type": {"anyOf": [{"type": "string"}, {"type": "null"}]},
         "allow_restart": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
     }}, f"{PY} full_client.UpdateResourcesRequest; its async client sends PATCH /cvms/{{id}}/resources "
         "(the sync one PATCHes /cvms/{id}: an SDK bug) and validates no answer"),
]


OBJECT = {"type": "object"}
# The legacy (v0.3) VM configuration, as the CLI's `cvms create` sends it.
LEGACY_CONFIGURATION = {"type": "object", "required": ["name", "compose_manifest"], "properties": {
    "name": {"type": "string"}, "image": {"type": "string"}, "vcpu": {"type": "integer"},
    "memory": {"type": "integer"}, "disk_size": {"type": "integer"}, "teepod_id": {"type": "integer"},
    "listed": {"type": "boolean"},
    "compose_manifest": {"type": "object", "description": "The app compose (docker_compose_file, name, runner, ...)."},
    "encrypted_env": {"type": "string", "description": "Step 2 only: the env sealed to step 1's key."},
    "app_env_encrypt_pubkey": {"type": "string", "description": "Step 2 only: step 1's key."},
    "app_id_salt": {"type": "string", "description": "Step 2 only: step 1's salt."}}}
# Calls only Phala's CLI sends (no SDK models their answers): the shapes it
# reads, from its bundled source, each named. The legacy v0.3 deploy
# (`cvms create`, `cvms upgrade`) and the OAuth device login (RFC 8628).
CLI_OPERATIONS = [
    ("post", "/auth/device/code", [], "request_device_code", "Account",
     "Starts a device login: a code for the user to enter at the verification URL (Phala's CLI: login without a key).",
     "DeviceCodeRequest", {"type": "object", "required": ["client_id"], "properties": {
         "client_id": {"type": "string"}, "scope": {"type": "string"}}},
     "DeviceCode", {"type": "object", "required": ["device_code", "user_code", "interval", "expires_in"], "properties": {
         "device_code": {"type": "string"}, "user_code": {"type": "string"},
         "verification_uri": {"type": "string"}, "verification_uri_complete": {"type": "string"},
         "interval": {"type": "integer"}, "expires_in": {"type": "integer"}}},
     f"{CLI} login: posts client_id and scope, reads device_code, user_code, verification_uri_complete, interval, expires_in; RFC 8628 section 3.2"),
    ("post", "/auth/device/token", [], "poll_device_token", "Account",
     "Polls a device login; an error `authorization_pending` or `slow_down` means ask again later.",
     "DeviceTokenRequest", {"type": "object", "required": ["device_code", "grant_type"], "properties": {
         "device_code": {"type": "string"}, "grant_type": {"type": "string"}}},
     "DeviceToken", {"type": "object", "required": ["access_token"], "properties": {
         "access_token": {"type": "string"}, "token_type": {"type": "string"}}},
     f"{CLI} login: posts device_code and grant_type urn:ietf:params:oauth:grant-type:device_code, reads access_token, and error/error_description of a 400; RFC 8628 section 3.4"),
    ("post", "/cvms/pubkey/from_cvm_configuration", [], "get_pubkey_from_cvm_configuration", "CVMs",
     "Legacy (v0.3) deploy, step 1: the env-encryption key for a CVM configuration.",
     "LegacyCvmConfiguration", LEGACY_CONFIGURATION,
     "LegacyCvmPubkey", {"type": "object", "required": ["app_env_encrypt_pubkey"], "properties": {
         "app_env_encrypt_pubkey": {"type": "string"}, "app_id_salt": {"type": "string"}}},
     f"{CLI} cvms create: posts the VM configuration (name, image, vcpu, memory, disk_size, compose_manifest, listed, teepod_id), reads app_env_encrypt_pubkey and app_id_salt"),
    ("post", "/cvms/from_cvm_configuration", [], "create_cvm_from_configuration", "CVMs",
     "Legacy (v0.3) deploy, step 2: creates the CVM from its configuration and encrypted env.",
     "LegacyCvmConfiguration", LEGACY_CONFIGURATION,
     "LegacyCvm", {"type": "object",
         "required": ["id", "name", "status", "app_id", "vcpu", "memory", "disk_size", "created_at"],
         "properties": {
             "id": {"$ref": "#/components/schemas/CvmId"}, "name": {"type": "string"}, "status": {"type": "string"},
             "teepod_id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
             "teepod": {"anyOf": [{"type": "object", "required": ["id", "name"], "properties": {
                 "id": {"type": "integer"}, "name": {"type": "string"}}}, {"type": "null"}]},
             "user_id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
             "app_id": {"type": "string"},
             "vm_uuid": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "instance_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "app_url": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "base_image": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "vcpu": {"type": "integer"}, "memory": {"type": "integer"}, "disk_size": {"type": "integer"},
             "manifest_version": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
             "version": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "runner": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "docker_compose_file": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "features": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
             "created_at": {"type": "string"},
             "encrypted_env_pubkey": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
     f"{CLI} cvms create: its zod schema of the answer (id, name, status, teepod_id, teepod, user_id, app_id, vm_uuid, instance_id, app_url, base_image, vcpu, memory, disk_size, manifest_version, version, runner, docker_compose_file, features, created_at, encrypted_env_pubkey)"),
    ("put", "/cvms/{cvm_id}/compose", ["cvm_id"], "upgrade_cvm_compose", "CVMs",
     "Legacy (v0.3) upgrade: a new compose manifest (and encrypted env) for the CVM.",
     "LegacyComposeUpgrade", {"type": "object", "required": ["compose_manifest"], "properties": {
         "compose_manifest": {"type": "object", "description": "The new app compose."},
         "encrypted_env": {"type": "string"}, "env_keys": {"type": "array", "items": {"type": "string"}},
         "allow_restart": {"type": "boolean"}}},
     None, None,
     f"{CLI} cvms upgrade: puts compose_manifest (and encrypted_env, env_keys, allow_restart), reads no field of the answer"),
]


# Published schemas that lack fields an SDK's model names: each field is
# added as optional, its schema from the model. (component, snapshot model,
# its $defs entry or None for the model itself, fields, evidence)
FIELDS = [
    ("teehouse__api__routes__cvms__v20260121__schemas__CVMInfo", "PaginatedCvmInfosV20260522", "CvmInfoV20260522",
     # Not `gpu_rental_order` and `hourly_rate`: nested records that would
     # add about 450 bytes to every listed CVM (`Cvm` holds one inline).
     ["app_url", "base_image", "billing_interval", "features", "manifest_version", "runner", "updated_at"],
     f"{PY} models/cvms.py CvmInfoV20260522 (the items of GET /cvms/paginated and GET /apps/{{id}}/cvms)"),
    ("CVMKmsInfo", "PaginatedCvmInfosV20260522", "CvmKmsInfoV20260121", ["k256_pubkey"],
     f"{PY} models/cvms.py CvmKmsInfoV20260121"),
    ("NodeRef", "PaginatedCvmInfosV20260522", "NodeRef", ["device_ids"], f"{PY} models/base.py NodeRef"),
    ("OnChainKmsContractOut", "GetKmsOnChainDetailResponse", "OnChainKmsContract",
     ["ca_pubkey", "gateway_contract_address", "k256_pubkey"], f"{PY} models/kms.py (GET /kms/on-chain/{{chain}})"),
]
# Where the SDKs disagree on a field's type, what both accept.
FIELD_TYPES = {
    # Python reads a string, @phala/cloud 0.2.9 a number (its composition schema).
    "manifest_version": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
}


def strip(schema):
    """pydantic's annotations that say nothing about the wire."""
    if isinstance(schema, dict):
        return {k: strip(v) for k, v in schema.items() if k != "title" and not (k == "additionalProperties" and v is True)}
    if isinstance(schema, list):
        return [strip(v) for v in schema]
    return schema


def has_ref(schema):
    return "$ref" in json.dumps(schema)


def ts_object(ts):
    """The object arm of a TypeScript (zod) schema: `anyOf [X, null]` unwrapped."""
    for arm in ts.get("anyOf", []):
        if arm.get("type") != "null":
            return ts_object(arm)
    return ts


def deref(schema, root, depth=0):
    """zod-to-json-schema's relative references (`#/properties/...`) inlined."""
    if depth > 16:
        return {}
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return deref(target, root, depth + 1)
        return {k: deref(v, root, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [deref(v, root, depth) for v in schema]
    return schema


def optional(schema):
    """`schema` with nothing required: a shape only one SDK names must not
    fail to decode an answer the other SDK accepts."""
    if isinstance(schema, dict):
        return {k: optional(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [optional(v) for v in schema]
    return schema


def is_generic(schema, components):
    """A Python placeholder (`GenericObject`: any object), or one maybe null."""
    arms = [a for a in schema.get("anyOf", [schema]) if a.get("type") != "null"]
    return len(arms) == 1 and "$ref" in arms[0] and not components.get(
        arms[0]["$ref"].rsplit("/", 1)[-1], {}).get("properties")


def merge_typescript(schema, ts, components, added, where):
    """Adds (as optional) the fields the TypeScript model names that the
    Python one lacks, and fills the Python placeholders (any object) with
    the TypeScript shape: the more specific model both accept."""
    ts = ts_object(ts)
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if components.get(name, {}).get("properties"):
            merge_typescript(components[name], ts, components, added, where)
        return
    for arm in schema.get("anyOf", []):
        if arm.get("type") != "null":
            merge_typescript(arm, ts, components, added, where)
    if isinstance(schema.get("items"), dict) and isinstance(ts.get("items"), dict):
        if is_generic(schema["items"], components) and not has_ref(ts["items"]):
            schema["items"] = optional(strip(ts_object(ts["items"])))
            added.append(f"{where}[] (typed)")
        else:
            merge_typescript(schema["items"], ts["items"], components, added, where + "[]")
    props = schema.get("properties")
    if props is None or "properties" not in ts:
        return
    for key, sub in ts["properties"].items():
        if key in props and is_generic(props[key], components) and not has_ref(sub):
            nullable = any(a.get("type") == "null" for a in props[key].get("anyOf", []))
            shape = optional(strip(ts_object(sub)))
            props[key] = {"anyOf": [shape, {"type": "null"}]} if nullable else shape
            added.append(f"{where}.{key} (typed)")
        elif key in props:
            merge_typescript(props[key], sub, components, added, f"{where}.{key}")
        elif not has_ref(sub):
            props[key] = optional(strip(sub))
            added.append(f"{where}.{key}")


def rename_refs(schema, names):
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = "#/components/schemas/" + names[v[len("#/$defs/"):]]
            else:
                out[k] = rename_refs(v, names)
        return out
    if isinstance(schema, list):
        return [rename_refs(v, names) for v in schema]
    return schema


def main():
    snap = json.loads(SNAPSHOT.read_text())
    published = json.loads(DOCUMENT.read_text())["components"]["schemas"]
    components = {}
    originals = {}

    def add(name, schema):
        if name in published:
            sys.exit(f"{name}: the published document already has a schema of that name")
        if name in originals:
            if originals[name] != schema:
                sys.exit(f"{name}: two different schemas of that name in the evidence")
            return
        originals[name] = copy.deepcopy(schema)
        components[name] = schema

    def component(model):
        root = snap["schemas"][model]
        defs = root.get("$defs", {})
        names = {d: RENAME.get(d, d) for d in defs}
        names[model] = model
        for d, s in defs.items():
            add(names[d], rename_refs(strip(s), names))
        body = {k: v for k, v in root.items() if k != "$defs"}
        add(model, rename_refs(strip(body), names))
        return {"$ref": f"#/components/schemas/{model}"}

    ts_snap = json.loads(TS_SNAPSHOT.read_text())
    per_version_ts = {}
    paths = {}
    for method, path, params, op_id, tag, summary, params_q, body_name, body, why in OPERATIONS:
        versions = {}
        for c in snap["calls"]:
            if c["method"].lower() == method and c["path"].replace("{slug}", "{kms_id}") == path and c["response"]:
                versions.setdefault(c["response"], set()).add(c["sent_version"])
        models = sorted(m for m in versions if m != "NoneType")
        # Newest model first: the arm a decoder tries first.
        models.sort(key=lambda m: max(versions[m]), reverse=True)
        if models and (method, path) not in ANSWERS:
            refs = [component(m) for m in models]
            ts_calls = [c for c in ts_snap["calls"] if c["method"].lower() == method
                        and c["path"].replace("{slug}", "{kms_id}") == path and c["response"]]
            if ts_calls:
                newest = max(ts_calls, key=lambda c: c["sent_version"])
                added = []
                ts_root = ts_snap["schemas"][newest["response"]]
                merge_typescript(refs[0], deref(ts_root, ts_root), components, added, "")
                if added:
                    per_version_ts[(method, path)] = (newest["response"], added)
            schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
            answer = {"description": "Successful Response", "content": {"application/json": {"schema": schema}}}
        else:
            answer = {"description": "Accepted; the SDKs read no answer."}
        per_version = "; ".join(f"{m} at {', '.join(sorted(versions[m]))}" for m in models) or "none validated"
        if (method, path) in per_version_ts:
            ts_model, added = per_version_ts[(method, path)]
            per_version += (f"; fields only @phala/cloud 0.2.9 {ts_model} names (added as optional) or types (typed, every field optional): "
                            + ", ".join(f"`{a.lstrip('.')}`" for a in added))
        if (method, path) in ANSWERS:
            name, (source, model) = ANSWERS[(method, path)]
            if source == "typescript":
                ts = json.loads(TS_SNAPSHOT.read_text())["schemas"][model]
                add(name, {"title": name, **strip({k: v for k, v in ts.items() if k != "$schema"})})
                schema = {"$ref": f"#/components/schemas/{name}"}
                per_version += f"; chosen: @phala/cloud 0.2.9 {model} (more specific, xtask/evidence/sdk-typescript.json)"
            else:
                schema = copy.deepcopy(
                    json.loads(DOCUMENT.read_text())["paths"][model]["get"]["responses"]["200"]["content"][
                        "application/json"]["schema"])
                per_version += f"; chosen: the CVM detail of GET {model}, as @phala/cloud 0.2.9 reads it (more specific)"
            answer = {"description": "Successful Response", "content": {"application/json": {"schema": schema}}}
        op = {
            "tags": [tag],
            "summary": summary,
            "operationId": op_id,
            "description": f"Not in any published document; called by Phala's own tools ({why}). Answer models: {per_version}.",
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ] + copy.deepcopy(params_q),
            "responses": {"200": answer},
        }
        if body is not None:
            add(body_name, {"title": body_name, **body})
            ref = {"$ref": f"#/components/schemas/{body_name}"}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        paths.setdefault("/api/v1" + path, {})[method] = op
        if not models and not any(c["path"] == path for c in snap["calls"]):
            print(f"note: {method.upper()} {path} is not in the Python snapshot", file=sys.stderr)

    for method, path, params, op_id, tag, summary, body_name, body, answer_name, answer_schema, why in CLI_OPERATIONS:
        add(body_name, {"title": body_name, **body})
        if answer_schema is not None:
            add(answer_name, {"title": answer_name, **answer_schema})
            answer = {"description": "Successful Response", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{answer_name}"}}}}
        else:
            answer = {"description": "Accepted; the CLI reads no field of the answer.",
                      "content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault("/api/v1" + path, {})[method] = {
            "tags": [tag],
            "summary": summary,
            "operationId": op_id,
            "description": f"Not in any published document; only Phala's CLI calls it ({why}).",
            "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body_name}"}}}},
            "responses": {"200": answer},
        }

    fields_update = {}
    fields_why = []
    for target, model, def_name, names, why in FIELDS:
        root = snap["schemas"][model]
        defs = root.get("$defs", {})
        source = defs[def_name] if def_name in defs else root
        renames = {d: RENAME.get(d, d) for d in defs}
        props = {}
        for name in names:
            prop = FIELD_TYPES.get(name) or rename_refs(strip(source["properties"][name]), renames)
            props[name] = prop
            for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(prop))):
                original = next(d for d, r in renames.items() if r == ref)
                add(ref, rename_refs(strip(defs[original]), renames))
        fields_update[target] = {"properties": props}
        fields_why.append(f"{target}: {', '.join(names)} ({why})")

    actions = [
        {
            "target": "$.components.schemas",
            "description": f"{MARK} schemas: the answers of the operations below, as the Python SDK models them "
            f"({PY}, pydantic model_json_schema in validation mode, from xtask/evidence/sdk-python.json; "
            "titles and `additionalProperties: true` dropped), their request bodies (*Request: the SDK's "
            "request models, named in each operation), and what only the CLI calls (Device*, Legacy*: the shapes "
            "its bundled source reads, named in each operation). Written by scripts/evidence/overlay_operations.py.",
            "update": dict(sorted(components.items())),
        },
        {
            "target": "$.paths",
            "description": f"{MARK}s: called by Phala's Python SDK 0.2.0, TypeScript SDK 0.2.9 and CLI (npm phala 1.1.18) but published "
            "in no document (2026-03-25, 2026-04-18); each operation's description names its evidence. "
            "`spec diff` says when a published document starts carrying one. Written by "
            "scripts/evidence/overlay_operations.py.",
            "update": paths,
        },
    ]
    actions.append({
        "target": "$.components.schemas",
        "description": f"{MARK} fields: what the SDKs' models name that published schemas lack, added as optional "
        "(`cargo xtask spec evidence` reported each as a warning). " + "; ".join(fields_why) + ". Written by "
        "scripts/evidence/overlay_operations.py.",
        "update": fields_update,
    })
    overlay = json.loads(OVERLAY.read_text())
    kept = [a for a in overlay["actions"] if not a["description"].startswith(MARK)]
    overlay["actions"] = kept + actions
    OVERLAY.write_text(json.dumps(overlay, indent=2, ensure_ascii=False) + "\n")
    print(f"{OVERLAY.name}: {len(paths)} paths, {len(components)} schemas from the evidence")


if __name__ == "__main__":
    main()
