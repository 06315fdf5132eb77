#!/usr/bin/env python3
"""Regenerate tests/contract/plex-1.1.1-trimmed.json from the community Plex OpenAPI 1.1.1
document (LukeHagar/plex-api-spec, Apache-2.0). Needs python3 with PyYAML.

    tests/contract/trim-plex-spec.py [FULL_SPEC] [OUT]

FULL_SPEC defaults to ../shared/specs/plex-openapi-1.1.1.yaml (relative to the repo root).
Keeps the operations in KEEP, with their parameters dereferenced (schemas too, one level of
$ref), their security requirement and the document's global security. Also records, per
operation, the verbs real servers accept beyond the documented one (`x-playmark-also-accepts`),
from ../shared/specs/plex-ops.md: the document itself says of scrobble/unscrobble "This API does
respond to the GET verb", and python-plexapi sends GET for scrobble, unscrobble and timeline.
"""
import hashlib
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "specs", "plex-openapi-1.1.1.yaml")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "plex-1.1.1-trimmed.json")

# path -> documented methods kept. Keep in sync with the client (src/backend/plex/).
KEEP = {
    "/identity": ["get"],
    "/library/sections/all": ["get"],
    "/library/sections/{sectionId}/all": ["get"],
    "/library/metadata/{ids}": ["get"],
    "/library/metadata/{ids}/allLeaves": ["get"],
    "/:/scrobble": ["put"],
    "/:/unscrobble": ["put"],
    "/:/timeline": ["post"],
    "/library/parts/{partId}/{changestamp}/{filename}": ["get"],
}
ALSO_ACCEPTS = {
    ("/:/scrobble", "put"): ["get"],
    ("/:/unscrobble", "put"): ["get"],
    ("/:/timeline", "post"): ["get"],
    # mpv and ffmpeg probe with HEAD before a ranged GET; the server answers it like GET.
    ("/library/parts/{partId}/{changestamp}/{filename}", "get"): ["head"],
}

raw = open(SRC, "rb").read()
doc = yaml.safe_load(raw)


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = doc
        for part in ref[2:].split("/"):
            target = target[part]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = dict(target, **extra)
    return node


def slim_schema(schema):
    schema = deref(schema)
    if "allOf" in schema:
        merged = {}
        for part in schema["allOf"]:
            merged.update(slim_schema(part))
        return merged
    out = {k: v for k, v in schema.items() if k in ("type", "format", "enum", "default", "minimum", "maximum")}
    if schema.get("type") == "object" and "properties" in schema:
        out["properties"] = {k: slim_schema(v) for k, v in schema["properties"].items()}
        out["additionalProperties"] = schema.get("additionalProperties", True)
        if "required" in schema:
            out["required"] = schema["required"]
    return out


def slim_metadata(schema):
    """Metadata's own properties only (types, required): nested arrays stay untyped."""
    schema = deref(schema)
    props = {}
    for k, v in schema.get("properties", {}).items():
        v = slim_schema(v)
        v.pop("properties", None)
        props[k] = v
    return {"type": "object", "required": schema.get("required", []), "properties": props}


paths = {}
for path, methods in KEEP.items():
    item = doc["paths"][path]
    kept = {}
    for m in methods:
        op = item[m]
        params = []
        for p in item.get("parameters", []) + op.get("parameters", []):
            p = deref(p)
            params.append({
                "name": p["name"],
                "in": p["in"],
                "required": bool(p.get("required", False)),
                "style": p.get("style"),
                "explode": p.get("explode"),
                "schema": slim_schema(p.get("schema", {})),
            })
        entry = {"operationId": op.get("operationId"), "parameters": params,
                 "responses": sorted(str(k) for k in op.get("responses", {}))}
        if "security" in op:
            entry["security"] = op["security"]
        if (path, m) in ALSO_ACCEPTS:
            entry["x-playmark-also-accepts"] = ALSO_ACCEPTS[(path, m)]
        kept[m] = entry
    paths[path] = kept

out = {
    "x-playmark-source": {
        "file": "plex-openapi-1.1.1.yaml",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "info": {"title": doc["info"].get("title"), "version": doc["info"].get("version")},
    },
    "security": doc.get("security", []),
    "securitySchemes": doc["components"]["securitySchemes"],
    "paths": paths,
    # For checking the fake's responses: the Metadata fields and the /identity container.
    "schemas": {
        "Metadata": slim_metadata(doc["components"]["schemas"]["Metadata"]),
        "Identity": slim_schema(
            doc["paths"]["/identity"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        )["properties"]["MediaContainer"],
    },
}
with open(OUT, "w") as f:
    json.dump(out, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"wrote {OUT}: {sum(len(v) for v in paths.values())} operations")
