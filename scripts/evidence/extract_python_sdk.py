"""Evidence snapshot of Phala's official Python SDK (PyPI `phala-cloud`).

Runs the SDK's own code, offline: one sync client per API version the SDK
supports (`phala_cloud.create_client`), whose httpx client gets a recording
`httpx.MockTransport` (injected where the SDK builds it, so its own base URL
and headers apply). Every public method of the client that sends a request is
called once per version with sentinel arguments; each request it sends is
recorded (method, path template, configured and sent X-Phala-Version, query
keys, JSON body keys) with the response model the SDK validates the answer
with, found by watching the SDK's own validation:

- "dispatch": the model `FullClient._model_for_response` picks for the
  request (every request made through `request()` is validated by it);
- "method": a model the method body validates with beyond that (the answer
  of a request that bypasses dispatch, or a stricter model than dispatch's);
- "none": the SDK validates nothing (the raw JSON is returned).

Each request is answered with a minimal value of the model the SDK will
validate it with (generated from that model's JSON Schema and checked against
it), so that the SDK's validation passes and the method carries on.

Writes the JSON snapshot described in xtask/evidence/README.md. Run by
scripts/evidence/python-sdk.sh inside a virtualenv with pinned packages.

    python extract_python_sdk.py --out xtask/evidence/sdk-python.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import os
import platform
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

import httpx
import pydantic
from pydantic import BaseModel, TypeAdapter

import phala_cloud
from phala_cloud import DEFAULT_API_VERSION, SUPPORTED_API_VERSIONS, create_client
from phala_cloud import full_client
from phala_cloud.models.cvms import CvmStatus

SDK_NAME = "phala-cloud"
SDK_VERSION = "0.2.0"
SCRIPT = "scripts/evidence/extract_python_sdk.py"
BASE_PATH = "/api/v1"
BASE_URL = f"https://sdk-evidence.invalid{BASE_PATH}"

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

# Identifiers that end up in a request path: each parameter gets a sentinel of
# its own, replaced in the recorded path by `{parameter_name}` (the name the
# SDK's method or request model gives it).
SENTINELS: dict[str, str] = {
    "cvm_id": "cvm_SENTINELcvm",
    "app_id": "5e4711e1" * 5,  # 40 hex digits, like a real app id
    "kms_id": "kms_SENTINELkms",
    "kms": "SENTINELkmsslug",
    "slug": "SENTINELslug",
    "family": "SENTINELfamily",
    "team_slug": "SENTINELteam",
    "revision_id": "SENTINELrevision",
    "key_id": "SENTINELkey",
    "chain": "SENTINELchain",
}
PATH_PARAMETER = {value: name for name, value in SENTINELS.items()}
assert len(PATH_PARAMETER) == len(SENTINELS), "sentinels must be distinct"

CVM = {"cvm_id": SENTINELS["cvm_id"]}
APP = SENTINELS["app_id"]
VM_UUID = "00000000-0000-4000-8000-5e4711e15e47"
HASH = "5e" * 32
TX_HASH = "0x" + "5e" * 32
COMPOSE = "services:\n  app:\n    image: busybox\n"
SCRIPT_BODY = "#!/bin/sh\necho evidence\n"

# One call per method: the positional arguments it is given. Where the method
# takes a request model, every field of that model is given (a check below
# fails when the SDK's model has a field this table does not pass), so the
# recorded query and body keys are all the keys the SDK can send. Where the
# method takes a plain mapping and forwards it (provision_cvm,
# commit_cvm_provision, list_workspaces, get_app_list, the app_compose of
# provision_cvm_compose_file_update), the keys are the caller's, so none are
# given and only the keys the SDK itself adds are recorded.
ARGS: dict[str, tuple[Any, ...]] = {
    "get_current_user": (),
    "get_available_nodes": (),
    "get_cvm_create_resources": (),
    "get_cvm_list": ({"page": 1, "page_size": 10, "family": "cpu", "instance_types": ["tdx.small"]},),
    "get_kms_list": ({"page": 1, "page_size": 10, "is_onchain": True},),
    "list_kms_contracts": (),
    "get_kms_contract": (SENTINELS["slug"],),
    "list_kms_contract_nodes": (SENTINELS["slug"],),
    "list_all_instance_type_families": (),
    "list_family_instance_types": ({"family": SENTINELS["family"]},),
    "list_workspaces": ({},),
    "get_workspace": ({"team_slug": SENTINELS["team_slug"]},),
    "get_workspace_nodes": ({"team_slug": SENTINELS["team_slug"], "page": 1, "page_size": 10},),
    "get_workspace_quotas": ({"team_slug": SENTINELS["team_slug"]},),
    "get_cvm_info": (CVM,),
    "provision_cvm": ({},),
    "commit_cvm_provision": ({},),
    "get_cvm_compose_file": (CVM,),
    "provision_cvm_compose_file_update": ({**CVM, "app_compose": {}, "update_env_vars": True},),
    "commit_cvm_compose_file_update": (
        {**CVM, "compose_hash": HASH, "encrypted_env": "5e", "env_keys": ["A"], "update_env_vars": True},
    ),
    "update_cvm_envs": (
        {**CVM, "encrypted_env": "5e", "env_keys": ["A"], "compose_hash": HASH, "transaction_hash": TX_HASH},
    ),
    "update_docker_compose": (
        {**CVM, "docker_compose_file": COMPOSE, "compose_hash": HASH, "transaction_hash": TX_HASH},
    ),
    "update_pre_launch_script": (
        {**CVM, "pre_launch_script": SCRIPT_BODY, "compose_hash": HASH, "transaction_hash": TX_HASH},
    ),
    "get_cvm_pre_launch_script": (CVM,),
    "start_cvm": (CVM,),
    "stop_cvm": (CVM,),
    "shutdown_cvm": (CVM,),
    "restart_cvm": ({**CVM, "force": True},),
    "delete_cvm": (CVM,),
    "get_cvm_stats": (CVM,),
    "get_cvm_network": (CVM,),
    "get_cvm_docker_compose": (CVM,),
    "get_cvm_containers_stats": (CVM,),
    "get_cvm_attestation": (CVM,),
    "update_cvm_resources": (
        {**CVM, "vcpu": 2, "memory": 2048, "disk_size": 40, "instance_type": "tdx.small", "allow_restart": True},
    ),
    "update_cvm_visibility": ({**CVM, "public_sysinfo": True, "public_logs": True, "public_tcbinfo": True},),
    "get_available_os_images": (CVM,),
    "update_os_image": ({**CVM, "os_image_name": "dstack-0.5.3"},),
    "patch_cvm": (
        {
            **CVM,
            "docker_compose_file": COMPOSE,
            "pre_launch_script": SCRIPT_BODY,
            "allowed_envs": ["A"],
            "public_logs": True,
            "public_sysinfo": True,
            "public_tcbinfo": True,
            "encrypted_env": "5e",
            "user_config": "{}",
            "gpus": {},
            "vcpu": 2,
            "memory": 2048,
            "disk_size": 40,
            "image": "dstack-0.5.3",
            "shutdown_timeout": 60,
            "allow_force_stop": True,
        },
    ),
    "confirm_cvm_patch": ({**CVM, "compose_hash": HASH, "transaction_hash": TX_HASH},),
    "get_cvm_state": (CVM,),
    # No retry: the stream's "complete" event ends the watch at once.
    "watch_cvm_state": (
        {**CVM, "target": "running", "interval": 5, "timeout": 10, "maxRetries": 0, "retryDelay": 0},
    ),
    "get_kms_info": ({"kms_id": SENTINELS["kms_id"]},),
    "get_app_env_encrypt_pub_key": ({"kms": SENTINELS["kms"], "app_id": APP},),
    "next_app_ids": ({"counts": 1},),
    "list_ssh_keys": (),
    "import_github_profile_ssh_keys": ({"github_username": "evidence"},),
    "create_ssh_key": ({"name": "evidence", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 evidence"},),
    "delete_ssh_key": ({"key_id": SENTINELS["key_id"]},),
    "sync_github_ssh_keys": (),
    "get_cvm_status_batch": ({"vm_uuids": [VM_UUID]},),
    "get_cvm_user_config": (CVM,),
    "refresh_cvm_instance_id": ({**CVM, "overwrite": True, "dry_run": True},),
    "refresh_cvm_instance_ids": (
        {
            "cvm_ids": [SENTINELS["cvm_id"]],
            "running_only": True,
            "missing_only": True,
            "overwrite": True,
            "limit": 1,
            "dry_run": True,
        },
    ),
    "replicate_cvm": ({**CVM, "node_id": 1},),
    "get_app_list": ({},),
    "get_app_info": ({"app_id": APP},),
    "get_app_cvms": ({"app_id": APP},),
    "create_app_instance": (
        {
            "app_id": APP,
            "name": "evidence",
            "node_id": 1,
            "docker_compose_file": COMPOSE,
            "pre_launch_script": SCRIPT_BODY,
            "encrypted_env": "5e",
            "compose_hash": HASH,
            "token": "evidence",
            "transaction_hash": TX_HASH,
        },
    ),
    "get_app_revisions": ({"app_id": APP, "page": 1, "page_size": 10},),
    "get_app_revision_detail": (
        {"app_id": APP, "revision_id": SENTINELS["revision_id"], "raw_compose_file": True},
    ),
    "get_app_filter_options": (),
    "get_app_attestation": ({"app_id": APP},),
    "get_kms_on_chain_detail": ({"chain": SENTINELS["chain"]},),
    "get_os_images": ({"page": 1, "page_size": 10, "is_dev": True},),
    "get_app_device_allowlist": ({"app_id": APP},),
    "check_cvm_is_allowed": ({**CVM, "compose_hash": HASH, "node_id": 1, "device_id": HASH},),
    "check_app_is_allowed": (
        {"app_id": APP, "compose_hash": HASH, "node_id": 1, "device_id": HASH, "chain_id": 8453},
    ),
    "check_app_cvms_is_allowed": ({"app_id": APP},),
}

# Public callables of the client that are not API calls of their own.
SKIP: dict[str, str] = {
    "request": "generic transport helper: sends whatever method and path its caller gives, "
    "validated by dispatch (every recorded call goes through it)",
    "request_full": "generic transport helper: sends whatever method and path its caller gives "
    "and returns status, headers and raw data without validation",
    "get": "generic transport helper: GET of whatever path its caller gives (through request)",
    "post": "generic transport helper: POST to whatever path its caller gives (through request)",
    "safe": "wraps any callable's result in a SafeResult; sends nothing itself",
    "with_version": "returns a new client configured for another API version; sends nothing",
    "close": "closes the client's HTTP connection pool; sends nothing",
    "add_compose_hash": "on-chain helper delegating to dstack-sdk (web3 transaction); "
    "sends no Phala Cloud API request",
    "deploy_app_auth": "on-chain helper delegating to dstack-sdk (web3 transaction); "
    "sends no Phala Cloud API request",
}

# Fields of a CvmIdRequest that name the CVM other ways than cvm_id (the SDK
# resolves one of them into the path and sends none of them).
CVM_ID_ALTERNATIVES = {"id", "uuid", "app_id", "instance_id", "cvmId"}

# Method-body models that are not the type of a whole answer: the method
# validates parts of the (dispatch-validated) answer. Every model the method
# body is seen validating must occur in the type given here.
METHOD_BODY_RESPONSE: dict[str, Any] = {
    # dispatch validates dict[str, GenericObject]; the method then validates
    # each value with CvmStatus.
    "get_cvm_status_batch": dict[str, CvmStatus],
}

# Validations that constrain nothing beyond "a JSON object": watch_cvm_state
# parses each SSE `data:` line with TypeAdapter(dict[str, Any]) before
# validating it with its model.
IGNORED_VALIDATIONS = (dict[str, Any],)

# ---------------------------------------------------------------------------
# Type names and schemas
# ---------------------------------------------------------------------------


def type_name(tp: Any) -> str:
    if tp is None or tp is type(None):
        return "NoneType"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join(type_name(a) for a in typing.get_args(tp))}]"
    if tp is Any:
        return "Any"
    return getattr(tp, "__name__", repr(tp))


def json_schema(tp: Any) -> dict[str, Any]:
    try:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp.model_json_schema(mode="validation")
        return TypeAdapter(tp).json_schema(mode="validation")
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        return {"x-unrepresentable": f"{type(exc).__name__}: {exc}"}


def components(tp: Any) -> set[Any]:
    """The type itself and every type argument inside it, recursively."""
    out = {tp}
    for arg in typing.get_args(tp):
        out |= components(arg)
    return out


STRING_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "duration": "PT0S",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.invalid/",
    "email": "evidence@example.invalid",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


def minimal(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A small JSON value valid against a (pydantic-generated) JSON Schema:
    only required properties, null where allowed, no array items."""
    if "$ref" in schema:
        return minimal(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            if any(o.get("type") == "null" for o in options):
                return None
            return minimal(options[0], defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return minimal(schema["allOf"][0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal(props.get(name, {}), defs) for name in schema.get("required", [])}
    if kind == "array":
        if "prefixItems" in schema:
            return [minimal(s, defs) for s in schema["prefixItems"]]
        return [minimal(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        value = STRING_FORMATS.get(schema.get("format", ""), "")
        return value + "x" * max(0, schema.get("minLength", 0) - len(value))
    if kind in ("integer", "number"):
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return int(schema["exclusiveMinimum"]) + 1
        return 0
    if kind == "boolean":
        return False
    return None


def minimal_instance(tp: Any) -> Any:
    schema = json_schema(tp)
    if "x-unrepresentable" in schema:
        raise RuntimeError(f"no schema to answer {type_name(tp)} with: {schema}")
    value = minimal(schema, schema.get("$defs", {}))
    with RECORDER.paused():
        TypeAdapter(tp).validate_python(value)  # the answer must pass the SDK's model
    return value


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------


class Recorder:
    """Receives every request of the SDK (as its httpx transport) and every
    validation the SDK makes while a method runs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.client: Any = None
        self.active = False
        self.dispatch_depth = 0
        self.pause_depth = 0

    class _Pause:
        def __init__(self, rec: Recorder) -> None:
            self.rec = rec

        def __enter__(self) -> None:
            self.rec.pause_depth += 1

        def __exit__(self, *_: object) -> None:
            self.rec.pause_depth -= 1

    def paused(self) -> Recorder._Pause:
        return Recorder._Pause(self)

    def recording(self) -> bool:
        return self.active and self.dispatch_depth == 0 and self.pause_depth == 0

    # -- transport ---------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(BASE_PATH + "/"):
            raise RuntimeError(f"request outside the SDK base: {request.method} {request.url}")
        relative = path[len(BASE_PATH) :]
        sent_version = request.headers.get("X-Phala-Version")
        query = sorted({key for key, _ in request.url.params.multi_items()})
        self.events.append(
            (
                "request",
                {
                    "method": request.method,
                    "path": template(relative),
                    "raw_path": relative,
                    "sent_version": sent_version,
                    "query": query,
                    "body": body_keys(request),
                },
            )
        )
        with self.paused():
            return self.answer(request, relative, sent_version)

    def answer(self, request: httpx.Request, relative: str, sent_version: str | None) -> httpx.Response:
        if "text/event-stream" in request.headers.get("accept", ""):
            target = request.url.params.get("target", "running")
            data = json.dumps({"status": target})
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=f"event: complete\ndata: {data}\n\n".encode(),
            )
        method = request.method
        if (method, relative) == ("POST", "/status/batch"):
            # One entry, valid for dispatch's dict[str, GenericObject] and for
            # the method's own CvmStatus validation of each value.
            return json_response({VM_UUID: minimal_instance(CvmStatus)})
        model = self.client._model_for_response(
            method, self.client._normalize_path(relative), sent_version
        )
        if model is type(None):
            return httpx.Response(204)
        if model is None:
            return json_response({})
        if model is str:
            return httpx.Response(200, headers={"content-type": "text/plain"}, content=b"evidence\n")
        return json_response(minimal_instance(model))


def json_response(value: Any) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "application/json"}, content=json.dumps(value).encode()
    )


def body_keys(request: httpx.Request) -> list[str] | str | None:
    content = request.content
    if not content:
        return None
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type.startswith("multipart/"):
        return "multipart"
    if media_type == "application/json" or media_type.endswith("+json"):
        body = json.loads(content)
        if not isinstance(body, dict):
            raise RuntimeError(f"JSON body that is not an object: {content[:80]!r}")
        return sorted(body)
    return media_type or "application/octet-stream"


def template(relative: str) -> str:
    segments = relative.split("/")
    return "/".join(
        "{" + PATH_PARAMETER[s] + "}" if s in PATH_PARAMETER else s for s in segments
    )


RECORDER = Recorder()


def instrument() -> None:
    """Wraps the SDK's dispatch validation and pydantic's validation entry
    points so that the recorder sees which models validate what."""
    original_dispatch = full_client._ExtMixin._validate_by_model

    def validate_by_model(self: Any, model: Any, data: Any) -> Any:
        if RECORDER.active and RECORDER.pause_depth == 0:
            RECORDER.events.append(("dispatch", model))
        RECORDER.dispatch_depth += 1
        try:
            return original_dispatch(self, model, data)
        finally:
            RECORDER.dispatch_depth -= 1

    full_client._ExtMixin._validate_by_model = validate_by_model

    original_model_validate = BaseModel.model_validate.__func__

    def model_validate(cls: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        if RECORDER.recording():
            RECORDER.events.append(("validate", cls))
        return original_model_validate(cls, obj, *args, **kwargs)

    BaseModel.model_validate = classmethod(model_validate)  # type: ignore[method-assign]

    for attr in ("validate_python", "validate_json"):
        original = getattr(TypeAdapter, attr)

        def wrapper(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            if RECORDER.recording():
                RECORDER.events.append(("validate", self._type))
            return __original(self, *args, **kwargs)

        setattr(TypeAdapter, attr, wrapper)

    # The SDK builds its own httpx.Client (base URL, default headers); the
    # recorder goes in as its transport.
    class RecordingClient(httpx.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", httpx.MockTransport(RECORDER.handle))
            super().__init__(*args, **kwargs)

    httpx.Client = RecordingClient  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------


def request_model(cls: type, name: str) -> type[BaseModel] | None:
    """The pydantic model the method's first parameter accepts, if any."""
    params = [p for p in inspect.signature(getattr(cls, name)).parameters.values() if p.name != "self"]
    if not params:
        return None
    hints = typing.get_type_hints(getattr(cls, name))
    annotation = hints.get(params[0].name)
    for arg in components(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def check_arguments(cls: type, name: str, args: tuple[Any, ...]) -> list[str]:
    """Every field of the method's request model must be given."""
    model = request_model(cls, name)
    if model is None or not args or not isinstance(args[0], Mapping):
        return []
    given = set(args[0])
    problems = []
    for field_name, field in model.model_fields.items():
        if field_name in given or (field.alias and field.alias in given):
            continue
        if issubclass(model, full_client.CvmIdRequest) and field_name in CVM_ID_ALTERNATIVES:
            continue
        problems.append(f"{name}: field {field_name!r} of {model.__name__} is not given")
    return problems


def same_type(a: Any, b: Any) -> bool:
    return a is b or (a == b and type_name(a) == type_name(b))


def collect(name: str, version: str, events: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    for kind, value in events:
        if kind == "request":
            requests.append({**value, "dispatch": [], "validated": []})
        elif requests:  # validations before the first request check the arguments
            requests[-1][kind if kind == "dispatch" else "validated"].append(value)
    calls = []
    for req in requests:
        dispatch = req["dispatch"][0] if req["dispatch"] else None
        extra = []
        for tp in req["validated"]:
            if any(same_type(tp, d) for d in req["dispatch"]):
                continue
            if any(same_type(tp, ignored) for ignored in IGNORED_VALIDATIONS):
                continue
            if not any(same_type(tp, e) for e in extra):
                extra.append(tp)
        if name in METHOD_BODY_RESPONSE:
            response, found_by = METHOD_BODY_RESPONSE[name], "method"
            parts = components(response)
            unexplained = [tp for tp in extra if not any(same_type(tp, p) for p in parts)]
            if unexplained or not extra:
                raise RuntimeError(
                    f"{name} ({version}): METHOD_BODY_RESPONSE is stale: method body validated "
                    f"{[type_name(t) for t in extra]}"
                )
        elif len(extra) == 1:
            response, found_by = extra[0], "method"
        elif extra:
            raise RuntimeError(
                f"{name} ({version}): several models validate one answer: "
                f"{[type_name(t) for t in extra]}; say which one in METHOD_BODY_RESPONSE"
            )
        elif req["dispatch"] and dispatch is not None:
            response, found_by = dispatch, "dispatch"
        else:
            response, found_by = None, "none"
        for value in SENTINELS.values():
            if value in req["path"]:
                raise RuntimeError(f"{name}: sentinel left in path {req['path']}")
        calls.append(
            {
                "sdk_method": name,
                "method": req["method"],
                "path": req["path"],
                "api_version": version,
                "sent_version": req["sent_version"],
                "query": req["query"],
                "body": req["body"],
                "response": response,
                "response_found_by": found_by,
            }
        )
    return calls


def wrapped_name(cls: type, name: str) -> str | None:
    """The method a safe_* wrapper calls (read from its source)."""
    source = inspect.getsource(getattr(cls, name))
    match = re.search(r"self\.safe\(\s*self\.(\w+)", source)
    return match.group(1) if match else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out

    installed = importlib.metadata.version(SDK_NAME)
    if installed != SDK_VERSION:
        print(f"{SDK_NAME} {installed} is installed; this extractor is for {SDK_VERSION}", file=sys.stderr)
        return 1

    instrument()
    cls = phala_cloud.PhalaCloud
    probe = create_client(api_key="evidence", base_url=BASE_URL)
    public = sorted(n for n in dir(probe) if not n.startswith("_") and callable(getattr(probe, n)))
    probe.close()

    problems: list[str] = []
    skipped: list[dict[str, str]] = []
    to_call: list[str] = []
    for name in public:
        if name in SKIP:
            skipped.append({"sdk_method": name, "reason": SKIP[name]})
        elif name.startswith("safe_"):
            inner = wrapped_name(cls, name)
            if inner is None or not hasattr(cls, inner):
                problems.append(f"{name}: cannot tell which method it wraps")
                continue
            if inner in SKIP:
                reason = f"SafeResult wrapper of {inner}, itself skipped"
            else:
                reason = f"SafeResult wrapper of {inner}: sends the same request, recorded under {inner}"
            skipped.append({"sdk_method": name, "reason": reason})
        elif name in ARGS:
            to_call.append(name)
        else:
            problems.append(f"{name}: a public method this extractor does not know; add it to ARGS or SKIP")
    problems += [f"{name}: in ARGS but not a public method of the client" for name in ARGS if name not in public]
    for name in to_call:
        problems += check_arguments(cls, name, ARGS[name])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    calls: list[dict[str, Any]] = []
    for version in SUPPORTED_API_VERSIONS:
        client = create_client(api_key="evidence", base_url=BASE_URL, version=version)
        if client.config.version != version:
            problems.append(f"client for {version} is configured for {client.config.version}")
        RECORDER.client = client
        for name in to_call:
            RECORDER.events = []
            RECORDER.active = True
            try:
                getattr(client, name)(*ARGS[name])
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                problems.append(f"{name} ({version}) raised {type(exc).__name__}: {exc}")
                continue
            finally:
                RECORDER.active = False
            recorded = collect(name, version, RECORDER.events)
            if not recorded:
                problems.append(f"{name} ({version}) sent no request")
            calls += recorded
        client.close()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    schemas: dict[str, Any] = {}
    named: dict[str, Any] = {}
    for call in calls:
        tp = call["response"]
        if call["response_found_by"] == "none":
            continue
        key = type_name(tp)
        if key in named and not same_type(named[key], tp):
            print(f"two response types are named {key}", file=sys.stderr)
            return 1
        named[key] = tp
        call["response"] = key
    for key, tp in named.items():
        schemas[key] = json_schema(tp)

    calls.sort(key=lambda c: (c["path"], c["method"], c["sdk_method"], c["api_version"]))
    snapshot = {
        "format": 1,
        "sdk": {"name": SDK_NAME, "language": "python", "registry": "pypi", "version": SDK_VERSION},
        "extracted_with": {
            "python": platform.python_version(),
            "pydantic": pydantic.VERSION,
            "httpx": httpx.__version__,
            "script": SCRIPT,
        },
        "versions": {"supported": list(SUPPORTED_API_VERSIONS), "default": DEFAULT_API_VERSION},
        "calls": calls,
        "schemas": schemas,
        "skipped": sorted(skipped, key=lambda s: s["sdk_method"]),
    }
    text = json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)

    methods = sorted({c["sdk_method"] for c in calls})
    print(
        f"{out}: {len(calls)} calls of {len(methods)} methods in {len(SUPPORTED_API_VERSIONS)} versions, "
        f"{len(schemas)} schemas, {len(skipped)} skipped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
