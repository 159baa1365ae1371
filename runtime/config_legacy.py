"""The old site config form, converted to the ``cameras:`` form in one step.

Until issue 16 a site listed its cameras under ``sources:`` and spread each one's settings over
top-level maps keyed by source id. ``convert_legacy`` turns such a mapping into the new one:

=====================================  =========================================
old key                                new key
=====================================  =========================================
``sources: [{id: X, type: ..., ...}]``  ``cameras: {X: {source: {type: ..., ...}}}``
``lines: {X: [...]}``                  ``cameras.X.lines``
``zones: {X: [...]}``                  ``cameras.X.zones``
``ground_planes: {X: {...}}``          ``cameras.X.ground_plane``
``exclusion_masks: {X: [...]}``        ``cameras.X.masks``
``fire: {X: {...}}``                   ``cameras.X.fire``
``camera_moved: {X: {...}}``           ``cameras.X.camera_moved``
=====================================  =========================================

Everything else (``detector``, ``tracker``, ``speed``, ``length_classes``, ``gating``,
``emissions`` as the cameras' site-wide defaults; ``sensors``, ``uplink``, ``hj212``, ``health`` and
the rest) stays where it is. ``${VAR}`` strings are kept as they are (the conversion runs before the
environment is substituted), so ``carbonedge config migrate`` never writes a secret out. This
module imports no pydantic: the CLI's ``--help`` stays light.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from carbonedge.runtime.base.errors import ConfigError

__all__ = ["LEGACY_MAPS", "convert_legacy", "deprecation_notice", "dump_yaml", "is_legacy"]

LEGACY_MAPS: dict[str, str] = {
    "lines": "lines",
    "zones": "zones",
    "ground_planes": "ground_plane",
    "exclusion_masks": "masks",
    "fire": "fire",
    "camera_moved": "camera_moved",
}
"""Old top-level map keyed by source id -> the camera key it becomes."""


def is_legacy(data: dict[str, Any]) -> bool:
    """Whether a parsed site mapping is in the old form (``sources:`` or a per-source map)."""
    return "sources" in data or any(key in data for key in LEGACY_MAPS)


def deprecation_notice(origin: str) -> str:
    """The one warning line logged when a file in the old form is loaded."""
    return (
        f"{origin}: old config form (sources:/lines:/... keyed by source id) is deprecated; "
        f"run 'carbonedge config migrate {origin}'"
    )


def convert_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """The new-form mapping of an old-form one (see the module docstring); ``data`` is unchanged.

    Raises ``ConfigError`` (without a file name; the caller adds it) for what has no new form:
    a source without an id, repeated ids, a map entry for a source that is not listed, or
    ``cameras:`` mixed with the old keys."""
    if "cameras" in data:
        old = ", ".join(k for k in ("sources", *LEGACY_MAPS) if k in data)
        raise ConfigError(f"cameras: cannot be mixed with the old per-source keys ({old}); move "
                          "them under cameras: (carbonedge config migrate)")  # fmt: skip
    cameras = _cameras(data.get("sources", []))
    for old_key, new_key in LEGACY_MAPS.items():
        section = data.get(old_key)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ConfigError(f"{old_key}: expected a mapping of source id -> settings, got "
                              f"{type(section).__name__}")  # fmt: skip
        for source_id, value in section.items():
            if source_id not in cameras:
                raise ConfigError(
                    f"{old_key} refers to source {source_id!r}, which is not among sources "
                    f"({', '.join(cameras) or 'none'})"
                )
            cameras[source_id][new_key] = copy.deepcopy(value)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "sources":
            out["cameras"] = cameras
        elif key not in LEGACY_MAPS:
            out[key] = copy.deepcopy(value)
    out.setdefault("cameras", cameras)
    return out


def _cameras(sources: object) -> dict[str, dict[str, Any]]:
    if not isinstance(sources, list):
        raise ConfigError(f"sources: expected a list of sources, got {type(sources).__name__}")
    cameras: dict[str, dict[str, Any]] = {}
    for i, source in enumerate(sources):
        if not isinstance(source, dict) or not isinstance(source.get("id"), str):
            raise ConfigError(f"sources.{i}: expected a mapping with an 'id' (the camera id)")
        source_id = source["id"]
        if source_id in cameras:
            raise ConfigError(f"source ids must be unique, repeated: {source_id}")
        body = {k: copy.deepcopy(v) for k, v in source.items() if k != "id"}
        cameras[source_id] = {"source": body}
    return cameras


class _Dumper(yaml.SafeDumper):
    """Block style for structure, flow style for small leaves (points, polygons, short maps)."""


def _leaf(value: object) -> bool:
    return not isinstance(value, (dict, list)) or (
        isinstance(value, list) and all(_leaf(v) for v in value)
    )


def _short(value: object) -> bool:
    return len(yaml.safe_dump(value, default_flow_style=True, width=10**6)) <= 72


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = _leaf(value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.Node:
    flow = all(_leaf(v) for v in value.values()) and _short(value)
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def dump_yaml(data: dict[str, Any], *, header: str = "") -> str:
    """``data`` as YAML in the README's style, keys in their order, ``header`` lines as comments."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return comment + body
