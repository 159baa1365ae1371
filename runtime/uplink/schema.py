"""The JSON Schemas of the uplink (package data in ``schemas/``) and validation against them.

Files are named ``<kind>.v<schema_version>.json`` plus ``envelope.v1.json``; adding a version is
adding a file. Validation uses ``jsonschema`` (draft 2020-12); it is imported on first use.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from carbonedge.runtime.uplink.errors import SchemaViolation

KINDS = ("interval_summary", "fire_alarm", "device_health", "calibration_change")
ENVELOPE_VERSION = 1


def schema_text(name: str) -> str:
    """Raw text of ``schemas/<name>.json`` (e.g. ``interval_summary.v1``)."""
    path = resources.files("carbonedge.runtime.uplink").joinpath("schemas", f"{name}.json")
    if not path.is_file():
        raise SchemaViolation(f"no schema {name}.json in carbonedge.runtime.uplink/schemas")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=32)
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_text(name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _check(name: str, instance: Any, what: str) -> None:
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaViolation(f"{what}: {where}: {first.message} [{name}.json]{more}")


def validate_body(kind: str, body: Any) -> None:
    """Raise ``SchemaViolation`` naming the field unless ``body`` matches its kind's schema."""
    if kind not in KINDS:
        raise SchemaViolation(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    version = body.get("schema_version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaViolation(f"{kind} body: schema_version: expected an integer")
    _check(f"{kind}.v{version}", body, f"{kind} body")


def validate_envelope(envelope: Any) -> None:
    """Validate the envelope, then its body against ``<kind>.v<schema_version>``."""
    _check(f"envelope.v{ENVELOPE_VERSION}", envelope, "envelope")
    validate_body(envelope["kind"], envelope["body"])
    if envelope["body"].get("schema_version") != envelope["schema_version"]:
        raise SchemaViolation("envelope: schema_version differs from body.schema_version")
    if envelope["body"].get("device_id") != envelope["device_id"]:
        raise SchemaViolation("envelope: device_id differs from body.device_id")
