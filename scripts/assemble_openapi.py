#!/usr/bin/env python3
"""Assemble the bundled `openapi.json` from the seed endpoint documents.

Run once when the project started (and again if the seeds change):

    python3 scripts/assemble_openapi.py ../shared/seeds > openapi.json

Seeds 000, 001, 003 and 004 embed the published YAML of one operation each;
seed 002 is a rendered documentation page, so `GET /api/v1/cvms` is written
here by hand from it (see `list_cvms_operation`). Schemas that appear in more
than one seed must be identical: the script stops if they are not.
Later updates come from upstream through `cargo xtask spec update`.
"""
import json
import re
import sys
from pathlib import Path

import yaml


def seed_yaml(path: Path):
    text = path.read_text()
    m = re.search(r"^````yaml[^\n]*\n(.*?)^````", text, re.S | re.M)
    return yaml.safe_load(m.group(1)) if m else None


def list_cvms_operation():
    """`GET /api/v1/cvms`, written from the rendered page (seed 002)."""
    return {
        "tags": ["CVMs"],
        "summary": "List CVMs",
        "description": "Returns CVMs in current workspace. Admins can filter by user_id or teepod_id.",
        "operationId": "handle_list_cvms_api_v1_cvms_get",
        "parameters": [
            {
                "name": "user_id",
                "in": "query",
                "required": False,
                "schema": {
                    "anyOf": [
                        {"type": "string", "const": "0"},
                        {
                            "type": "string",
                            "pattern": "^usr_.+",
                            "format": "hashid",
                            "title": "HashedId[users]",
                            "description": "A hashed identifier that maps to an internal database ID",
                            "examples": ["usr_0123abcd"],
                        },
                        {"type": "null"},
                    ],
                    "title": "User Id",
                    "description": "Filter by owner (admin only). Use '0' for unassigned.",
                },
                "description": "Filter by owner (admin only). Use '0' for unassigned.",
            },
            {
                "name": "teepod_id",
                "in": "query",
                "required": False,
                "schema": {
                    "anyOf": [{"type": "integer"}, {"type": "null"}],
                    "title": "Teepod Id",
                    "description": "Filter by node ID (admin only)",
                },
                "description": "Filter by node ID (admin only)",
            },
        ],
        "responses": {
            "200": {
                "description": "List of CVM summaries",
                "content": {
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                {"type": "array", "items": {"$ref": "#/components/schemas/HostedCvm"}},
                                {
                                    "type": "array",
                                    "items": {
                                        "$ref": "#/components/schemas/teehouse__api__routes__cvms__v20260121__schemas__CVMInfo"
                                    },
                                },
                            ],
                            "title": "Response Handle List Cvms Api V1 Cvms Get",
                        }
                    }
                },
            },
            "401": {"description": "Authentication required"},
            "422": {
                "description": "Validation Error",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
                },
            },
        },
        "security": [{"OAuth2AuthorizationCodeBearer": []}, {"APIKeyHeader": []}],
    }


def merge_named(into: dict, new: dict, what: str):
    for name, value in new.items():
        if name in into and into[name] != value:
            sys.exit(f"error: {what} '{name}' differs between seeds")
        into.setdefault(name, value)


def main():
    seeds = sorted(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/seeds").glob("*.txt"))
    doc = None
    paths, schemas, schemes = {}, {}, {}
    for seed in seeds:
        part = seed_yaml(seed)
        if part is None:
            paths["/api/v1/cvms"] = {"get": list_cvms_operation()}
            continue
        if doc is None:
            doc = {k: part[k] for k in ("openapi", "info", "servers", "tags")}
        for key in ("openapi", "info", "servers", "tags"):
            if part[key] != doc[key]:
                sys.exit(f"error: '{key}' differs in {seed.name}")
        for path, item in part["paths"].items():
            for method, op in item.items():
                if method in paths.get(path, {}):
                    sys.exit(f"error: {method.upper()} {path} appears twice")
                paths.setdefault(path, {})[method] = op
        comps = part.get("components", {})
        merge_named(schemas, comps.get("schemas", {}), "schema")
        merge_named(schemes, comps.get("securitySchemes", {}), "security scheme")
    doc["paths"] = dict(sorted(paths.items()))
    doc["components"] = {"schemas": dict(sorted(schemas.items())), "securitySchemes": schemes}
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
