"""The JSON Schemas of the uplink (package data in ``schemas/``) and validation against them.

Files are named ``<kind>.v<schema_version>.json`` plus ``envelope.v1.json``; adding a version is
adding a file. Validation uses ``jsonschema`` (draft 2020-12); it is imported on first use.

The interval summary's schema is assembled: its fixed fields (``schemas/parts/
interval_summary.v1.base.json``) plus the fragment of every summary section registered by the
stage that owns it (``carbonedge.runtime.base.sections``). The published
``schemas/interval_summary.v1.json`` and SCHEMA.md's section table are generated from the same
registry (``carbonedge schema --write runtime/uplink``; a test fails when they are stale).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from carbonedge.runtime.uplink.errors import SchemaViolation

KINDS = ("interval_summary", "fire_alarm", "device_health", "calibration_change")
ENVELOPE_VERSION = 1


SUMMARY_SCHEMA = "interval_summary.v1"
SECTIONS_BEGIN = "<!-- sections: generated from the section registry, do not edit -->"
SECTIONS_END = "<!-- end of sections -->"


def schema_text(name: str) -> str:
    """Raw text of ``schemas/<name>.json`` (e.g. ``interval_summary.v1``)."""
    path = resources.files("carbonedge.runtime.uplink").joinpath("schemas", f"{name}.json")
    if not path.is_file():
        raise SchemaViolation(f"no schema {name}.json in carbonedge.runtime.uplink/schemas")
    return path.read_text(encoding="utf-8")


def summary_schema() -> dict[str, Any]:
    """The interval summary schema: the fixed fields plus every registered section."""
    from carbonedge.runtime.base.sections import SECTIONS
    from carbonedge.runtime.stages import load_all

    load_all()
    base = resources.files("carbonedge.runtime.uplink").joinpath(
        "schemas", "parts", f"{SUMMARY_SCHEMA}.base.json"
    )
    schema = json.loads(base.read_text(encoding="utf-8"))
    for spec in SECTIONS.specs():
        if spec.name in schema["properties"]:
            raise SchemaViolation(f"section {spec.name!r} collides with a fixed summary field")
        schema["properties"][spec.name] = dict(spec.schema)
    return schema


def summary_schema_text() -> str:
    """The published ``schemas/interval_summary.v1.json``, as the registry makes it."""
    return json.dumps(summary_schema(), indent=2, ensure_ascii=False) + "\n"


def sections_table() -> str:
    """SCHEMA.md's table of summary sections (between its section markers)."""
    from carbonedge.runtime.base.sections import SECTIONS
    from carbonedge.runtime.stages import load_all

    load_all()
    rows = ["| section | owner (stage) | meaning |", "|---|---|---|"]
    for spec in sorted(SECTIONS.specs(), key=lambda s: s.name):
        text = " ".join(spec.description.split()).replace("|", "/")
        rows.append(f"| `{spec.name}` | {spec.owner} | {text} |")
    return "\n".join([SECTIONS_BEGIN, *rows, SECTIONS_END])


@lru_cache(maxsize=32)
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = summary_schema() if name == SUMMARY_SCHEMA else json.loads(schema_text(name))
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


def health_entries(part: str, entries: dict[str, Any]) -> dict[str, Any]:
    """``entries`` (``/healthz``'s ``sources`` or ``sensors``: id -> entry) cut to the fields
    ``device_health.v1`` has for them. ``/healthz`` shows more (the detector's crop, the car
    scale, a file cut short) and grows with the software; the v1 message is closed, and one
    unknown key would dead-letter every health message of the box."""
    schema = _validator("device_health.v1").schema  # parsed once, with the validator
    known = schema["properties"][part]["additionalProperties"]["properties"]
    return {key: {k: v for k, v in entry.items() if k in known} for key, entry in entries.items()}


def validate_envelope(envelope: Any) -> None:
    """Validate the envelope, then its body against ``<kind>.v<schema_version>``."""
    _check(f"envelope.v{ENVELOPE_VERSION}", envelope, "envelope")
    validate_body(envelope["kind"], envelope["body"])
    if envelope["body"].get("schema_version") != envelope["schema_version"]:
        raise SchemaViolation("envelope: schema_version differs from body.schema_version")
    if envelope["body"].get("device_id") != envelope["device_id"]:
        raise SchemaViolation("envelope: device_id differs from body.device_id")


def write_generated(package_dir: Path) -> list[Path]:
    """Rewrite the published summary schema and SCHEMA.md's section table under
    ``package_dir`` (the source tree's ``runtime/uplink``); returns the files changed."""
    changed = []
    schema_path = package_dir / "schemas" / f"{SUMMARY_SCHEMA}.json"
    text = summary_schema_text()
    if schema_path.read_text(encoding="utf-8") != text:
        schema_path.write_text(text, encoding="utf-8")
        changed.append(schema_path)
    doc_path = package_dir / "SCHEMA.md"
    doc = doc_path.read_text(encoding="utf-8")
    start, end = doc.index(SECTIONS_BEGIN), doc.index(SECTIONS_END) + len(SECTIONS_END)
    new_doc = doc[:start] + sections_table() + doc[end:]
    if new_doc != doc:
        doc_path.write_text(new_doc, encoding="utf-8")
        changed.append(doc_path)
    return changed
