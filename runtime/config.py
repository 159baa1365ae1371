"""Site configuration: pydantic v2 models loaded from one YAML file.

Every model forbids unknown keys. String values may use ``${VAR}`` or ``${VAR:-default}`` to take a
value from the environment (secrets, paths). A bad file fails with one line that names the file, the
key and what was expected, e.g. ``site.yaml: detector.score_threshold: Input should be less than or
equal to 1 (got 3)``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.calibration.masks import MaskPolygon
from carbonedge.calibration.record import CalibrationConfig
from carbonedge.devices.redact import redact
from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.health_server import HealthConfig
from carbonedge.runtime.motion_gate import GateConfig
from carbonedge.runtime.site import WatchdogConfig
from carbonedge.runtime.uplink.config import UplinkConfig
from carbonedge.runtime.uplink.hj212.config import Hj212Config
from carbonedge.vision.analytics.kinematics import SpeedConfig
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.camera_moved import CameraMovedConfig
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.fire import FireMonitorConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SummaryConfig(BaseModel):
    """Per-interval summaries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(60.0, gt=0, le=86400)


class OutputConfig(BaseModel):
    """Where summaries and events go on the box."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sqlite_path: Path = Path("carbonedge-out/carbonedge.sqlite")
    jsonl_path: Path | None = Path("carbonedge-out/summaries.jsonl")


class _SiteBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    tracker: ByteTrackConfig = ByteTrackConfig()
    lines: dict[str, list[LineConfig]] = Field(
        default_factory=dict, description="source id -> counting lines on that source"
    )
    zones: dict[str, list[ZoneConfig]] = Field(
        default_factory=dict, description="source id -> zones (queues, entries/exits) on it"
    )
    ground_planes: dict[str, GroundPlaneConfig] = Field(
        default_factory=dict, description="source id -> image-to-road homography (metres)"
    )
    exclusion_masks: dict[str, list[MaskPolygon]] = Field(
        default_factory=dict, description="source id -> polygons (px) whose detections are "
        "dropped before tracking (parked cars, billboards); fire cameras ignore them too",
    )  # fmt: skip
    speed: SpeedConfig = SpeedConfig()
    length_classes: bool = Field(
        True, description="class a one-class detector's boxes by length where metres are known"
    )
    gating: GateConfig = Field(
        GateConfig(), description="run the detector only when the lines/zones see change"
    )
    watchdog: WatchdogConfig = WatchdogConfig()
    fire: dict[str, FireMonitorConfig] = Field(
        default_factory=dict, description="source id -> fire/smoke monitor on that camera"
    )
    camera_moved: dict[str, CameraMovedConfig] = Field(
        default_factory=dict, description="source id -> check that the view still matches its "
        "calibration snapshot (or reference_image)",
    )  # fmt: skip
    emissions: EmissionsConfig | None = Field(
        None, description="estimate traffic emissions per interval (see the README)"
    )
    summary: SummaryConfig = SummaryConfig()
    output: OutputConfig = OutputConfig()
    uplink: UplinkConfig | None = None
    hj212: Hj212Config | None = Field(None, description="HJ 212 link to a China platform")
    health: HealthConfig = HealthConfig()
    calibration: CalibrationConfig | None = Field(
        None,
        description="signed calibration records; a source's current one overrides its "
        "lines, zones and ground plane",
    )

    @model_validator(mode="after")
    def _check_references(self) -> _SiteBase:
        source_ids = [s.id for s in self.sources]  # type: ignore[attr-defined]
        duplicates = sorted({s for s in source_ids if source_ids.count(s) > 1})
        if duplicates:
            raise ValueError(f"source ids must be unique, repeated: {', '.join(duplicates)}")
        ids = source_ids + [s.id for s in getattr(self, "sensors", [])]  # summaries, calibration
        duplicates = sorted({s for s in ids if ids.count(s) > 1} - set(duplicates))
        if duplicates:
            raise ValueError(f"sensor ids must differ from each other and from source ids, "
                             f"repeated: {', '.join(duplicates)}")  # fmt: skip
        for section in ("lines", "zones", "ground_planes", "exclusion_masks", "fire",
                        "camera_moved"):  # fmt: skip
            for source_id in getattr(self, section):
                if source_id not in source_ids:
                    raise ValueError(
                        f"{section} refers to source {source_id!r}, which is not among sources "
                        f"({', '.join(source_ids) or 'none'})"
                    )
        for section in ("lines", "zones"):
            for source_id, items in getattr(self, section).items():
                ids = [item.id for item in items]
                if len(set(ids)) != len(ids):
                    raise ValueError(f"{section} ids on source {source_id!r} must be unique")
        return self


def site_config_model() -> type[_SiteBase]:
    """The ``SiteConfig`` model, with ``sources`` and ``detector`` unions of all registered plugins.

    Built once per set of registered plugin types, so a plugin registered later is included.
    """
    # Importing the plugin packages registers every built-in source and detector type.
    import carbonedge.devices.sensors  # noqa: F401
    import carbonedge.devices.sources  # noqa: F401
    import carbonedge.vision.detectors  # noqa: F401
    from carbonedge.devices.sensors.base import SENSORS
    from carbonedge.devices.sources.base import SOURCES
    from carbonedge.vision.detectors.base import DETECTORS

    return _site_config_model(
        SOURCES.config_classes(), DETECTORS.config_classes(), SENSORS.config_classes()
    )


@lru_cache(maxsize=8)
def _site_config_model(
    source_classes: tuple, detector_classes: tuple, sensor_classes: tuple
) -> type[_SiteBase]:
    source_union = Annotated[Union[source_classes], Field(discriminator="type")]  # type: ignore[valid-type]
    detector_union = Annotated[Union[detector_classes], Field(discriminator="type")]  # type: ignore[valid-type]
    sensor_union = Annotated[Union[sensor_classes], Field(discriminator="type")]  # type: ignore[valid-type]
    return create_model(
        "SiteConfig",
        __base__=_SiteBase,
        sources=(list[source_union], Field(min_length=1)),  # type: ignore[valid-type]
        detector=(detector_union, ...),
        sensors=(list[sensor_union], Field(default_factory=list)),  # type: ignore[valid-type]
    )


def substitute_env(value: Any, *, where: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {
            k: substitute_env(v, where=f"{where}.{k}" if where else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_env(v, where=f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (used as ${{{name}}})")

    return _ENV_PATTERN.sub(replace, value)


def _expected_tags(loc: str) -> str:
    """The registered ``type`` names for the plugin list or field at ``loc``."""
    from carbonedge.devices.sensors.base import SENSORS
    from carbonedge.devices.sources.base import SOURCES
    from carbonedge.vision.detectors.base import DETECTORS

    registry = SOURCES if loc.startswith("sources") else DETECTORS
    registry = SENSORS if loc.startswith("sensors") else registry
    return ", ".join(repr(n) for n in sorted(registry.names()))


def format_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """One line: ``key: message (got value)`` for the first ``limit`` errors."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif err["type"] == "union_tag_not_found":
            msg = f"missing key 'type' (one of {_expected_tags(loc)})"
        elif err["type"] == "union_tag_invalid":
            tag = err["ctx"].get("tag", err.get("input"))
            msg = f"unknown type {tag!r}; expected one of {err['ctx']['expected_tags']}"
        got = err.get("input")
        if err["type"] not in (
            "missing",
            "extra_forbidden",
            "union_tag_invalid",
        ) and not isinstance(got, (dict, list)):
            msg += f" (got {redact(repr(got))})"  # a camera URL may carry a password
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_site_config(data: Any, *, origin: str = "<config>") -> _SiteBase:
    """Validate an already-parsed mapping; errors name ``origin`` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    try:
        data = substitute_env(data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    try:
        return site_config_model().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {format_validation_error(exc)}") from None


def load_site_config(path: str | Path) -> _SiteBase:
    """Read and validate one site YAML file. Relative paths inside stay relative to the CWD."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if (
            context
            and context_mark is not None
            and (mark is None or context_mark.line != mark.line)
        ):
            problem += f" ({context} at line {context_mark.line + 1})"
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    return parse_site_config(data, origin=str(path))
