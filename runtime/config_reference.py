"""``carbonedge config reference``: every key of a site YAML file, from the pydantic models.

Walks ``SiteConfig`` and every model below it (each registered source, detector and sensor type is
its own section, chosen by its ``type:``) and writes one Markdown table per model: key, type,
default, unit, description and an example. Units come from the key's name (``timeout_s``,
``line_px``, ``outbox_max_mb``: house style puts the unit in the name); examples are the values
the shipped example configs (``runtime/examples/*.yaml``) use for that key, else one made from the
key's type, bounds and default. ``docs/config-reference.md`` is this output; a test regenerates it
and fails when it is stale or when a key has no description.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

#: Name suffix -> unit, longest first (``_kmh`` before ``_h``).
UNITS: tuple[tuple[str, str], ...] = (
    ("_kmh", "km/h"), ("_mps", "m/s"), ("_ms", "ms"), ("_us", "µs"), ("_px", "pixels"),
    ("_deg", "degrees"), ("_mb", "MiB"), ("_kb", "KiB"), ("_bytes", "bytes"), ("_hz", "Hz"),
    ("_fps", "frames/s"), ("_pct", "%"), ("_percent", "%"), ("_m2", "m²"), ("_m", "metres"),
    ("_s", "seconds"), ("_min", "minutes"), ("_h", "hours"), ("_g", "grams"), ("_c", "°C"),
    ("_kg", "kg"), ("_frames", "frames"), ("_levels", "grey levels"), ("_db", "dB"),
)  # fmt: skip
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
HEADER = """# Site config reference

Every key of a carbonedge site YAML file (`carbonedge run SITE.yaml`), generated from the pydantic
models by `{command} --write docs/config-reference.md`; do not edit by hand. A key with no
default is required. Units come from the key's name (house style: `timeout_s` is seconds, `start_px`
pixels, `outbox_max_mb` MiB). Examples are values the shipped example configs use
(`runtime/examples/`), else one made from the key's type and bounds. `${{VAR}}` in any string is
replaced from the environment. Camera keys marked *inherited* may be set once at the top level
for every camera ([architecture](../ARCHITECTURE.md#config), [tutorial](tutorial.md)).
"""


@dataclass
class Key:
    """One row: ``name`` within its model, and what the table shows."""

    name: str
    type_text: str
    default: str
    unit: str
    description: str
    example: str


@dataclass
class Section:
    """One model: its path in the YAML file (``cameras.<id>.source``), the keys, sub-models."""

    path: str
    model: type[BaseModel]
    keys: list[Key] = field(default_factory=list)
    note: str = ""


def unit_of(name: str) -> str:
    low = name.lower()
    return next((unit for suffix, unit in UNITS if low.endswith(suffix)), "")


def collect(root: type[BaseModel] | None = None) -> list[Section]:
    """Every model reachable from ``root`` (default ``SiteConfig``), depth first, each once per
    path; registries' config classes get one section per ``type``."""
    from carbonedge.runtime.config import INHERITED, SiteConfig

    root = root or SiteConfig
    examples = example_values()
    sections: list[Section] = []
    seen: set[tuple[str, type]] = set()

    def visit(model: type[BaseModel], path: str, note: str = "") -> None:
        if (path, model) in seen:
            return
        seen.add((path, model))
        section = Section(path, model, note=note)
        sections.append(section)
        nested: list[tuple[type[BaseModel], str, str]] = []
        for name, info in model.model_fields.items():
            if info.exclude or (
                name == "id" and (path == "cameras.<id>" or path.startswith("cameras.<id>.source"))
            ):
                continue  # set at run time, or filled from the key under cameras:
            annotation = info.annotation
            description = (info.description or "").strip()
            if name == "type" and not description and _type_literal(model):
                description = f"selects this kind: `{_type_literal(model)}`"
            inherited = path == "cameras.<id>" and name in INHERITED
            if inherited and description:
                description += f" (*inherited*: the top-level `{name}` keys, overridden here)"
            key_path = f"{path}.{name}" if path else name
            section.keys.append(Key(
                name, type_text(annotation), default_text(info), unit_of(name), description,
                examples.get(_generic(key_path)) or example_of(annotation, info)
                or default_text(info),
            ))  # fmt: skip
            for sub, suffix in [] if inherited else submodels(annotation):
                label = _type_literal(sub)
                nested.append((sub, key_path + suffix, f"type: {label}" if label else ""))
        for sub, sub_path, sub_note in nested:
            visit(sub, sub_path, sub_note)

    visit(root, "")
    return sections


def submodels(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """The models inside an annotation, with the path suffix (``[]`` for list items,
    ``.<key>`` for dict values)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    if origin is typing.Annotated:
        return submodels(args[0])
    if origin in (Union, types.UnionType):
        return [m for a in args for m in submodels(a)]
    if origin in (list, tuple, set, frozenset):
        return [(m, "[]" + s) for a in args if a is not Ellipsis for m, s in submodels(a)]
    if origin is dict:
        key = "<id>" if typing.get_origin(args[0]) is typing.Annotated else "<key>"
        return [(m, f".{key}" + s) for m, s in submodels(args[1])]
    return []


def type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        names = [_type_literal(a) for a in args]
        if all(names) and len(args) > 1:
            return "one of `type:` " + ", ".join(names)
        return " \\| ".join(type_text(a) for a in args)
    if origin in (list, set, frozenset):
        return f"list of {type_text(args[0])}"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_text(args[0])}"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is dict:
        return f"map {type_text(args[0])} → {type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        label = _type_literal(annotation)
        return f"`type: {label}` mapping" if label else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(json.dumps(m.value) for m in annotation)
    return {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def default_text(info: Any) -> str:
    if info.is_required():
        return "*required*"
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:
            return "(computed)"
    else:
        value = info.default
    if value is PydanticUndefined:
        return "*required*"
    return f"`{_short(value)}`"


def example_of(annotation: Any, info: Any) -> str:
    if not info.is_required():
        return ""  # the default is the example
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return example_of(args[0], info)
    if origin is Literal:
        return f"`{_short(args[0])}`"
    bounds = {type(m).__name__: m for m in info.metadata}
    low = next((getattr(m, a) for m in bounds.values() for a in ("ge", "gt") if hasattr(m, a)),
               None)  # fmt: skip
    if annotation in (int, float) and low is not None:
        return f"`{low + (1 if annotation is int else 0.5)}`"
    return ""


def example_values() -> dict[str, str]:
    """Generic key path -> the first value an example config gives it (``cameras.<id>.x``)."""
    from carbonedge.runtime.config import read_yaml

    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if path:
                found.setdefault(_generic(path), f"`{_short(value)}`")
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            found.setdefault(_generic(path), f"`{_short(value)}`")
            for item in value[:1]:
                walk(item, path + "[]")
        else:
            found.setdefault(_generic(path), f"`{_short(value)}`")

    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        walk(read_yaml(path), "")
    return found


def _generic(path: str) -> str:
    """``cameras.road.lines[].id`` -> ``cameras.<id>.lines[].id`` (source types keep theirs)."""
    parts = path.split(".")
    if len(parts) > 1 and parts[0] == "cameras":
        parts[1] = "<id>"
    return ".".join(p.split(" (")[0] for p in parts)


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if hasattr(value, "isoformat"):  # a date or time YAML parsed: as written in a config
        value = value.isoformat().replace("+00:00", "Z")
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace('"', "") if isinstance(value, (dict, list, tuple)) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _type_literal(model: Any) -> str:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    info = model.model_fields.get("type")
    if info is None or typing.get_origin(info.annotation) is not Literal:
        return ""
    return str(typing.get_args(info.annotation)[0])


def render(sections: list[Section], command: str = "carbonedge config reference") -> str:
    out = [HEADER.format(command=command), "## Contents\n"]
    for s in sections:
        out.append(f"- [{_title(s)}](#{_anchor(s)})")
    for s in sections:
        out.append(f'\n<a id="{_anchor(s)}"></a>\n## {_title(s)}\n')
        doc = (s.model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            out.append(f"{doc} (`{s.model.__name__}`)\n")
        out.append("| key | type | default | unit | description | example |")
        out.append("|---|---|---|---|---|---|")
        for k in s.keys:
            cells = (f"`{k.name}`", k.type_text, k.default, k.unit, k.description, k.example)
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def _title(s: Section) -> str:
    title = f"`{s.path}`" if s.path else "top level"
    return f"{title} with `{s.note}`" if s.note else title


def _anchor(s: Section) -> str:
    text = f"{s.path} {s.note}".strip() or "top-level"
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def undescribed(sections: list[Section]) -> list[str]:
    """``path.key`` of every key without a description."""
    return [f"{s.path}.{k.name}" if s.path else k.name
            for s in sections for k in s.keys if not k.description]  # fmt: skip


# -- the command (``carbonedge config reference``; registered by ``config_cli``) -----------------


def cmd_reference(args: argparse.Namespace) -> int:
    """``carbonedge config reference [--write FILE]`` (parser in ``config_cli.py``)."""
    sections = collect()
    text = render(sections)
    if args.write is None:
        sys.stdout.write(text)
        return 0
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(text, encoding="utf-8")
    keys = sum(len(s.keys) for s in sections)
    missing = undescribed(sections)
    missing_text = f"; {len(missing)} without a description" if missing else ""
    sys.stderr.write(f"wrote {args.write}: {len(sections)} sections, {keys} keys{missing_text}\n")
    return 0
