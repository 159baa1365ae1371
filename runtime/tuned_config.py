"""The sidecar ``SITE.tuned.yaml`` that ``carbonedge tune`` writes and ``load_site_config`` reads.

``carbonedge tune site.yaml --clip CLIP`` keeps, per camera, the cheapest detector settings whose
line crossings matched the full-frame reference on the site's own footage (``runtime/tune.py``)
and writes them next to the site config, never into it (the user's YAML and its comments stay
as they are):

.. code-block:: yaml

    version: 1
    cameras:
      highway:
        detector: {type: picodet, roi: auto, roi_margin_px: [25.0, 44.0, 25.0, 22.0], ...}
        fingerprint: 3f1c...   # SHA-256 of the camera's detector, tracker, lines, zones, masks
        report: {tuned_at: ..., footage: ..., speedup: 2.4, events: ..., tried: [...]}

On load, a camera's ``detector`` is replaced by the tuned one (one log line names the file).
Settings tuned for another configuration (the camera's lines, zones, masks, tracker or detector
in ``site.yaml`` changed since: the fingerprint differs) are ignored with a warning: re-run
``carbonedge tune``. Delete the file, or its camera's entry, to go back to ``site.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from carbonedge.runtime.base.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["SIDECAR_VERSION", "apply_tuned", "camera_fingerprint", "read_sidecar", "sidecar_path",
           "write_sidecar"]  # fmt: skip

SIDECAR_VERSION = 1


def sidecar_path(site_path: str | Path) -> Path:
    """``site.yaml`` -> ``site.tuned.yaml`` in the same folder."""
    site_path = Path(site_path)
    return site_path.with_name(f"{site_path.stem}.tuned{site_path.suffix or '.yaml'}")


def camera_fingerprint(camera: Any) -> str:
    """SHA-256 of what tuning depends on: the camera's detector, tracker, gating, lines, zones
    and masks as ``site.yaml`` gives them (a ``CameraConfig``)."""
    keys = ("detector", "tracker", "gating", "lines", "zones", "masks")
    body = {k: camera.model_dump(mode="json", include={k})[k] for k in keys}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The parsed sidecar, None when there is none; ``ConfigError`` naming the file and the
    field when it is malformed."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read tuned settings ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != SIDECAR_VERSION:
        raise ConfigError(f"{path}: version: expected {SIDECAR_VERSION} (a file written by "
                          "carbonedge tune)")  # fmt: skip
    cameras = data.get("cameras")
    if not isinstance(cameras, dict):
        raise ConfigError(f"{path}: cameras: expected a mapping of camera id -> tuned settings")
    for camera_id, entry in cameras.items():
        for key in ("detector", "fingerprint"):
            if not isinstance(entry, dict) or key not in entry:
                raise ConfigError(f"{path}: cameras.{camera_id}.{key}: missing")
    return data


def apply_tuned(config: Any, site_path: str | Path) -> Any:
    """``config`` (a ``SiteConfig`` read from ``site_path``) with each tuned camera's detector
    replaced by the sidecar's; ``config`` itself when there is no sidecar."""
    from pydantic import TypeAdapter, ValidationError

    from carbonedge.runtime.config import DetectorConfig, format_validation_error

    path = sidecar_path(site_path)
    data = read_sidecar(path)
    if data is None:
        return config
    cameras = dict(config.cameras)
    used, stale = [], []
    for camera_id, entry in data["cameras"].items():
        camera = cameras.get(camera_id)
        if camera is None:
            logger.warning("%s: camera %r is not in %s: its tuned settings are ignored", path,
                           camera_id, site_path)  # fmt: skip
            continue
        if entry["fingerprint"] != camera_fingerprint(camera):
            stale.append(camera_id)
            continue
        try:
            detector = TypeAdapter(DetectorConfig).validate_python(entry["detector"])
        except ValidationError as exc:
            raise ConfigError(f"{path}: cameras.{camera_id}.detector."
                              f"{format_validation_error(exc)}") from None  # fmt: skip
        cameras[camera_id] = camera.model_copy(update={"detector": detector})
        report = entry.get("report") or {}
        used.append(f"{camera_id} ({report.get('chosen', 'tuned')}, "
                    f"{report.get('speedup', '?')}x, "
                    f"tuned {report.get('tuned_at', '?')})")  # fmt: skip
    if stale:
        logger.warning("%s: tuned settings of camera %s ignored: its detector, tracker, lines, "
                       "zones or masks in %s changed since tuning; run carbonedge tune again",
                       path, ", ".join(stale), site_path)  # fmt: skip
    if used:
        logger.warning("using tuned detector settings from %s for camera %s", path,
                       "; ".join(used))  # fmt: skip
    return config.model_copy(update={"cameras": cameras})


def write_sidecar(path: Path, cameras: dict[str, dict[str, Any]], header: str) -> None:
    """Write (atomically) ``cameras`` (camera id -> detector, fingerprint, report) into the
    sidecar at ``path``, keeping the entries of cameras not tuned this time."""
    old = read_sidecar(path) if path.is_file() else None
    merged = dict(old["cameras"]) if old else {}
    merged.update(cameras)
    text = "".join(f"# {line}\n" for line in header.splitlines())
    text += yaml.safe_dump({"version": SIDECAR_VERSION, "cameras": merged}, sort_keys=False,
                           default_flow_style=None, width=100)  # fmt: skip
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the tuned settings ({exc.strerror})") from None
