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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "xtask/evidence/sdk-python.json"
OVERLAY = ROOT / "openapi.overlay.json"
DOCUMENT = ROOT / "openapi.json"
MARK = "Evidence-only operation"

PY = "PyPI phala-cloud 0.2.0"


def query(name, schema, why):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": why}


# Evidence names that would read as a published schema's once made Rust
# names (typify: `KMSInfo` and `KmsInfo` are both `KmsInfo`).
RENAME = {"KmsInfo": "NodeKmsInfo", "AvailableOSImage": "NodeOsImage"}

PAGE = query("page", {"type": "integer", "minimum": 1}, "Page number, from 1.")
PAGE_SIZE = query("page_size", {"type": "integer", "minimum": 1}, "Items per page.")

# (method, SDK path, path parameters, operation id, tag, summary, query
# parameters, request body schema, evidence for what the snapshot lacks).
OPERATIONS = [
    ("get", "/auth/me", [], "get_current_user", "Account",
     "The user, workspace and credentials the request authenticates as (Phala's CLI: whoami, status).",
     [], None, f"{PY} full_client.get_current_user; npm phala 1.1.18 whoami"),
    ("get", "/workspaces", [], "list_workspaces", "Account",
     "The workspaces the user belongs to.",
     [], None, f"{PY} full_client.list_workspaces"),
    ("get", "/workspaces/{team_slug}", ["team_slug"], "get_workspace", "Account",
     "One workspace, by slug.",
     [], None, f"{PY} full_client.get_workspace"),
    ("get", "/workspaces/{team_slug}/nodes", ["team_slug"], "get_workspace_nodes", "Account",
     "The nodes a workspace can deploy to, paged.",
     [PAGE, PAGE_SIZE], None, f"{PY} full_client.get_workspace_nodes (WorkspaceNodesRequest: page, page_size)"),
    ("get", "/workspaces/{team_slug}/quotas", ["team_slug"], "get_workspace_quotas", "Account",
     "A workspace's quotas and what it uses of them.",
     [], None, f"{PY} full_client.get_workspace_quotas"),
    ("get", "/teepods/available", [], "get_available_nodes", "Nodes",
     "The nodes (teepods) available to deploy on, with their images and KMS (Phala's CLI: nodes, replicate --node).",
     [], None, f"{PY} full_client.get_available_nodes"),
    ("get", "/teepods/cvm-create-resources", [], "get_cvm_create_resources", "Nodes",
     "What a deploy can choose: nodes, KMS, gateways and instance types.",
     [], None, f"{PY} full_client.get_cvm_create_resources"),
    ("get", "/os-images", [], "list_os_images", "Nodes",
     "The OS images, paged (Phala's CLI: os-images).",
     [query("is_dev", {"type": "boolean"}, "Only development (or only production) images."), PAGE, PAGE_SIZE],
     None, f"{PY} full_client.get_os_images (GetOsImagesRequest: is_dev: bool, page, page_size)"),
    ("get", "/kms/{kms_id}/nodes", ["kms_id"], "list_kms_contract_nodes", "KMS",
     "The nodes of a KMS contract (API 2026-06-23: the KMS API is contract-centric).",
     [], None, f"{PY} client.list_kms_contract_nodes (pins X-Phala-Version 2026-06-23)"),
    ("get", "/cvms/{cvm_id}/composition", ["cvm_id"], "get_cvm_composition", "CVMs",
     "The CVM's containers, each with its log endpoint (Phala's CLI: ps, logs).",
     [], None, f"{PY} full_client.get_cvm_containers_stats"),
    ("patch", "/cvms/{cvm_id}/visibility", ["cvm_id"], "update_cvm_visibility", "CVMs",
     "Which of the CVM's logs and system information are public.",
     [], {"type": "object", "required": ["public_sysinfo", "public_logs"], "properties": {
         "public_sysinfo": {"type": "boolean"},
         "public_logs": {"type": "boolean"},
         "public_tcbinfo": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
     }}, f"{PY} full_client.UpdateVisibilityRequest"),
    ("post", "/cvms/{cvm_id}/is-allowed", ["cvm_id"], "check_cvm_is_allowed", "CVMs",
     "Whether the app's on-chain contract allows this CVM's compose hash and device.",
     [], {"type": "object", "properties": {
         "compose_hash": {"anyOf": [{"type": "string"}, {"type": "null"}]},
         "node_id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
         "device_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
     }}, f"{PY} models/cvms.py CheckCvmIsAllowedRequest"),
    ("patch", "/cvms/{cvm_id}/resources", ["cvm_id"], "update_cvm_resources", "CVMs",
     "Resize the CVM: vCPUs, memory (MB), disk (GB) or instance type; a running CVM restarts only when allowed (Phala's CLI: cvms resize).",
     [], {"type": "object", "properties": {
         "vcpu": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "memory": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "disk_size": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
         "instance_type": {"anyOf": [{"type": "string"}, {"type": "null"}]},
         "allow_restart": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
     }}, f"{PY} full_client.UpdateResourcesRequest; its async client sends PATCH /cvms/{{id}}/resources "
         "(the sync one PATCHes /cvms/{id}: an SDK bug) and validates no answer"),
]


def strip(schema):
    """pydantic's annotations that say nothing about the wire."""
    if isinstance(schema, dict):
        return {k: strip(v) for k, v in schema.items() if k != "title" and not (k == "additionalProperties" and v is True)}
    if isinstance(schema, list):
        return [strip(v) for v in schema]
    return schema


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

    def add(name, schema):
        if name in published:
            sys.exit(f"{name}: the published document already has a schema of that name")
        if name in components and components[name] != schema:
            sys.exit(f"{name}: two different schemas of that name in the evidence")
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

    paths = {}
    for method, path, params, op_id, tag, summary, params_q, body, why in OPERATIONS:
        versions = {}
        for c in snap["calls"]:
            if c["method"].lower() == method and c["path"].replace("{slug}", "{kms_id}") == path and c["response"]:
                versions.setdefault(c["response"], set()).add(c["sent_version"])
        models = sorted(m for m in versions if m != "NoneType")
        # Newest model first: the arm a decoder tries first.
        models.sort(key=lambda m: max(versions[m]), reverse=True)
        if models:
            refs = [component(m) for m in models]
            schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
            answer = {"description": "Successful Response", "content": {"application/json": {"schema": schema}}}
        else:
            answer = {"description": "Accepted; the SDKs read no answer."}
        per_version = "; ".join(f"{m} at {', '.join(sorted(versions[m]))}" for m in models) or "none validated"
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
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        paths.setdefault("/api/v1" + path, {})[method] = op
        if not models and not any(c["path"] == path for c in snap["calls"]):
            print(f"note: {method.upper()} {path} is not in the Python snapshot", file=sys.stderr)

    actions = [
        {
            "target": "$.components.schemas",
            "description": f"{MARK} schemas: the answers of the operations below, as the Python SDK models them "
            f"({PY}, pydantic model_json_schema in validation mode, from xtask/evidence/sdk-python.json; "
            "titles and `additionalProperties: true` dropped). Written by scripts/evidence/overlay_operations.py.",
            "update": dict(sorted(components.items())),
        },
        {
            "target": "$.paths",
            "description": f"{MARK}s: called by Phala's Python SDK 0.2.0 and CLI (npm phala 1.1.18) but published "
            "in no document (2026-03-25, 2026-04-18); each operation's description names its evidence. "
            "`spec diff` says when a published document starts carrying one. Written by "
            "scripts/evidence/overlay_operations.py.",
            "update": paths,
        },
    ]
    overlay = json.loads(OVERLAY.read_text())
    kept = [a for a in overlay["actions"] if not a["description"].startswith(MARK)]
    overlay["actions"] = kept + actions
    OVERLAY.write_text(json.dumps(overlay, indent=2, ensure_ascii=False) + "\n")
    print(f"{OVERLAY.name}: {len(paths)} paths, {len(components)} schemas from the evidence")


if __name__ == "__main__":
    main()
