"""Site configuration: pydantic v2 models loaded from one YAML file, one entry per camera.

A site has site-wide settings (``device_id``, ``sensors``, ``uplink``, ``hj212``, ``health``,
``summary``, ``output``, ``watchdog``, ``calibration``), site-wide defaults for its cameras
(``detector``, ``tracker``, ``speed``, ``length_classes``, ``gating``, ``emissions``,
``road_classes``, ``profiles``, ``loops``) and
``cameras: {id: {source, lines, zones, ground_plane, masks, fire, camera_moved, ...}}`` in
Frigate's shape. A camera inherits each default it does not give; one it gives is deep-merged over
the default (``cameras.road.tracker.lost_buffer_s: 2`` changes that one key; lists are replaced,
and a mapping with another ``type:`` replaces the default instead of merging into it). After
loading every camera is complete: ``config.cameras["road"].tracker`` is what the camera runs.

Every model forbids unknown keys. String values may use ``${VAR}`` or ``${VAR:-default}`` to take a
value from the environment (secrets, paths). A bad file fails with one line that names the file, the
key and what was expected, e.g. ``site.yaml: cameras.road.detector.score_threshold: Input should be
less than or equal to 1 (got 3)``. A file in the old form (``sources:`` plus maps keyed by source
id) is converted on load with a deprecation warning (``config_legacy``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# The plugin packages register every built-in source, detector and sensor type when imported; the
# unions below are built from the registries after that.
import carbonedge.devices.sensors  # noqa: F401  (registers)
import carbonedge.devices.sources  # noqa: F401  (registers)
import carbonedge.vision.detectors  # noqa: F401  (registers)
from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.calibration.masks import MaskPolygon
from carbonedge.calibration.record import CalibrationConfig
from carbonedge.devices.redact import redact
from carbonedge.devices.sensors.base import SENSORS
from carbonedge.devices.sources.base import SOURCES
from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.annotate_config import AnnotateConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.model import StrictModel
from carbonedge.runtime.base.safe_yaml import YamlLimitError, load_yaml_limited
from carbonedge.runtime.calibrate.overlay import AppliedRecord
from carbonedge.runtime.config_legacy import convert_legacy, deprecation_notice, is_legacy
from carbonedge.runtime.health_server import HealthConfig
from carbonedge.runtime.light_profiles import LightProfilesConfig
from carbonedge.runtime.motion_gate import GateConfig
from carbonedge.runtime.site import WatchdogConfig
from carbonedge.runtime.uplink.config import UplinkConfig
from carbonedge.runtime.uplink.hj212.config import Hj212Config
from carbonedge.vision.analytics.kinematics import SpeedConfig
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.camera_moved import CameraMovedConfig
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.counting.loops import LoopsConfig
from carbonedge.vision.detectors.base import DETECTORS
from carbonedge.vision.fire import FireMonitorConfig
from carbonedge.vision.taxonomy import RoadClassesConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

logger = logging.getLogger(__name__)

__all__ = [
    "INHERITED",
    "CameraConfig",
    "DetectorConfig",
    "OutputConfig",
    "SensorConfig",
    "SiteConfig",
    "SourceConfig",
    "SummaryConfig",
    "format_validation_error",
    "load_site_config",
    "merge_over",
    "parse_site_config",
    "read_yaml",
    "substitute_env",
]

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

SourceConfig = Annotated[Union[SOURCES.config_classes()], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: E501
DetectorConfig = Annotated[Union[DETECTORS.config_classes()], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: E501
SensorConfig = Annotated[Union[SENSORS.config_classes()], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: E501
CameraId = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]

INHERITED: tuple[str, ...] = ("detector", "tracker", "speed", "length_classes", "gating",
                              "emissions", "road_classes", "profiles", "loops")  # fmt: skip
"""Camera keys whose site-wide default of the same name a camera inherits (deep-merged)."""


class SummaryConfig(StrictModel):
    """Per-interval summaries."""

    interval_s: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="length of one summary interval, aligned to UTC wall time",
    )


class OutputConfig(StrictModel):
    """Where summaries and events go on the box."""

    sqlite_path: Path = Field(
        Path("carbonedge-out/carbonedge.sqlite"),
        description="the box's store: summaries, events, outbox (relative paths from the working "
        "folder)",
    )
    jsonl_path: Path | None = Field(
        Path("carbonedge-out/summaries.jsonl"),
        description="a JSON-lines copy of every summary (null: none)",
    )
    shutdown_flush_s: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="at shutdown, retry a failing store this long before spilling the queue",
    )
    spill_dir: Path | None = Field(
        None,
        description="folder of the spill file (default: next to the store; "
        "another filesystem survives a full disk)",
    )


class CameraConfig(StrictModel):
    """One camera (``cameras.<id>``): its source, analytics and geometry, complete after loading.

    ``id`` and ``source.id`` are the camera's key under ``cameras:``; the inherited keys
    (``INHERITED``) hold the site-wide default merged with the camera's own settings.
    """

    id: CameraId = Field(description="the key under cameras: (filled from it)")
    source: SourceConfig = Field(description="where frames come from, chosen by type:")
    detector: DetectorConfig = Field(description="the site's detector unless overridden")
    tracker: ByteTrackConfig = Field(ByteTrackConfig(), description="ByteTrack settings")
    speed: SpeedConfig = Field(SpeedConfig(), description="speed, stop and distance estimation")
    length_classes: bool = Field(
        True, description="class a one-class detector's boxes by length where metres are known"
    )
    road_classes: RoadClassesConfig = Field(
        RoadClassesConfig(), description="the road taxonomy counts use (README: Road taxonomy)"
    )
    gating: GateConfig = Field(
        GateConfig(), description="run the detector only when the lines/zones see change"
    )
    emissions: EmissionsConfig | None = Field(
        None, description="estimate traffic emissions per interval (see the README)"
    )
    profiles: LightProfilesConfig = Field(
        default_factory=LightProfilesConfig,
        description="detector settings per light state (day, dusk, night, glare, fog), switched "
        "from frame statistics; off: never (runtime/light_profiles.py)",
    )
    loops: LoopsConfig = Field(
        LoopsConfig(),
        description="virtual loops on the lines: small road users the tracker missed "
        "(vision/counting/loops.py)",
    )
    lines: list[LineConfig] = Field(default_factory=list, description="counting lines")
    zones: list[ZoneConfig] = Field(
        default_factory=list, description="zones (queues, entries/exits)"
    )
    ground_plane: GroundPlaneConfig | None = Field(
        None, description="image-to-road homography (metres)"
    )
    masks: list[MaskPolygon] = Field(
        default_factory=list, description="polygons (px) whose detections are dropped before "
        "tracking (parked cars, billboards); a fire monitor ignores them too",
    )  # fmt: skip
    fire: FireMonitorConfig | None = Field(None, description="fire/smoke monitor on this camera")
    camera_moved: CameraMovedConfig | None = Field(
        None, description="check that the view still matches its calibration snapshot (or "
        "reference_image)",
    )  # fmt: skip
    annotate: AnnotateConfig | None = Field(
        None, description="annotated MP4 of the run and/or clips around alarms (drawn on a "
        "thread of its own; runtime/annotate_config.py)",
    )  # fmt: skip
    applied_record: AppliedRecord | None = Field(
        None, exclude=True, description="set by calibrate.overlay.overlay_record at run time"
    )

    @model_validator(mode="before")
    @classmethod
    def _id_from_source(cls, data: object) -> object:
        """Built in code without ``id``: take the source's."""
        if isinstance(data, dict) and "id" not in data:
            source_id = getattr(data.get("source"), "id", None)
            if source_id is not None:
                return {**data, "id": source_id}
        return data

    @field_validator("source", mode="before")
    @classmethod
    def _source_id(cls, value: object, info: ValidationInfo) -> object:
        camera_id = info.data.get("id")
        if camera_id is None:
            return value  # the id itself failed: that error is reported
        given = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
        if given is not None and given != camera_id:
            raise ValueError(f"id {given!r} differs from the camera id {camera_id!r} (its key "
                             "under cameras:); leave source.id out")  # fmt: skip
        return {**value, "id": camera_id} if isinstance(value, dict) else value

    @field_validator("applied_record", mode="before")
    @classmethod
    def _not_from_config(cls, value: object) -> object:
        if value is not None:
            raise ValueError("comes from the camera's calibration record, not from the config")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> CameraConfig:
        for section in ("lines", "zones"):
            ids = [item.id for item in getattr(self, section)]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{section} ids must be unique, repeated: {', '.join(repeated)}")
        return self


class SiteConfig(StrictModel):
    """A whole box: site-wide settings, camera defaults and ``cameras`` (module docstring)."""

    device_id: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="this box's id: every summary, event and upload carries it",
    )
    time_zone: str | None = Field(
        None, description="IANA time zone of the site (e.g. Asia/Shanghai): the clock of the "
        "report's tables and axes and of exported periods; default: the system's zone",
    )  # fmt: skip
    # site-wide defaults every camera inherits (INHERITED)
    detector: DetectorConfig = Field(description="every camera's detector unless it has its own")
    tracker: ByteTrackConfig = Field(ByteTrackConfig(), description="ByteTrack settings")
    speed: SpeedConfig = Field(SpeedConfig(), description="speed, stop and distance estimation")
    length_classes: bool = Field(
        True,
        description="class a one-class detector's boxes by length where metres are known",
    )
    road_classes: RoadClassesConfig = Field(
        RoadClassesConfig(),
        description="detector labels -> road classes (riders folded in)",
    )
    gating: GateConfig = Field(
        GateConfig(),
        description="skip the detector on frames where nothing moved",
    )
    emissions: EmissionsConfig | None = Field(
        None,
        description="traffic exhaust emissions per interval (null: none)",
    )
    profiles: LightProfilesConfig = Field(
        default_factory=LightProfilesConfig,
        description="light profiles every camera inherits (off: none)",
    )
    loops: LoopsConfig = Field(
        LoopsConfig(),
        description="virtual loops every camera inherits (mode: off: none)",
    )
    cameras: dict[CameraId, CameraConfig] = Field(min_length=1, description="camera id -> camera")
    # site-level only
    sensors: list[SensorConfig] = Field(
        default_factory=list,
        description="air-quality and other sensors on serial lines or Modbus",
    )
    watchdog: WatchdogConfig = Field(
        WatchdogConfig(),
        description="when live sources that stall or freeze are restarted",
    )
    summary: SummaryConfig = Field(SummaryConfig(), description="interval summaries")
    output: OutputConfig = Field(
        OutputConfig(),
        description="where the box stores what it measured",
    )
    uplink: UplinkConfig | None = Field(
        None,
        description="where messages go upstream (MQTT or HTTPS; null: none)",
    )
    hj212: Hj212Config | None = Field(None, description="HJ 212 link to a China platform")
    health: HealthConfig = Field(
        HealthConfig(),
        description="the local health, metrics and web page server",
    )
    calibration: CalibrationConfig | None = Field(
        None,
        description="signed calibration records; a camera's current one is laid over its "
        "settings (calibrate.overlay)",
    )

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: object) -> object:
        """Fill each camera's id from its key and merge the site-wide defaults into it."""
        if not isinstance(data, dict) or not isinstance(data.get("cameras"), dict):
            return data
        cameras = {}
        for camera_id, camera in data["cameras"].items():
            if isinstance(camera, dict):
                camera = {"id": camera_id, **camera}
                for key in INHERITED:
                    if key in data:
                        camera[key] = merge_over(data[key], camera[key]) if key in camera \
                            else data[key]  # fmt: skip
            cameras[camera_id] = camera
        return {**data, "cameras": cameras}

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            if name is not None and (not name or name.startswith("/") or ".." in name):
                raise ValueError(name)
            return name if name is None or ZoneInfo(name) else name
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {name!r} (expected an IANA name such as "
                "Asia/Shanghai, Europe/London or UTC)"
            ) from None

    @model_validator(mode="after")
    def _check_ids(self) -> SiteConfig:
        for camera_id, camera in self.cameras.items():
            if camera.id != camera_id:
                raise ValueError(f"cameras.{camera_id}.id: {camera.id!r} differs from its key "
                                 f"{camera_id!r}; leave id out")  # fmt: skip
        ids = [*self.cameras, *(s.id for s in self.sensors)]  # summaries, calibration records
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"sensor ids must differ from each other and from camera ids, "
                             f"repeated: {', '.join(repeated)}")  # fmt: skip
        return self


def merge_over(default: object, override: object) -> object:
    """``override`` deep-merged over ``default`` (Frigate-style camera inheritance).

    Mappings merge key by key, recursively; anything else (a list, a scalar, null) replaces the
    default. A mapping whose ``type`` differs from the default's replaces it whole (a camera
    choosing another detector backend takes none of the default's backend settings)."""
    if isinstance(default, BaseModel) and isinstance(override, dict):
        default = default.model_dump()
    if not (isinstance(default, dict) and isinstance(override, dict)):
        return override
    if "type" in override and override["type"] != default.get("type"):
        return override
    merged = dict(default)
    for key, value in override.items():
        merged[key] = merge_over(merged[key], value) if key in merged else value
    return merged


def substitute_env(value: object, *, where: str = "") -> object:
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


def _expected_tags(loc: str) -> str | None:
    """The registered ``type`` names for the plugin field at ``loc`` (None: not a plugin)."""
    if ".fire." in f".{loc}.":
        return None  # the fire monitor's own detector choice
    registry = DETECTORS
    if loc.startswith("sensors"):
        registry = SENSORS  # type: ignore[assignment]
    elif loc.split(".")[-1] == "source":
        registry = SOURCES  # type: ignore[assignment]
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
            tags = _expected_tags(loc)
            msg = "missing key 'type'" + (f" (one of {tags})" if tags else "")
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


def parse_site_config(data: object, *, origin: str = "<config>") -> SiteConfig:
    """Validate an already-parsed mapping; errors name ``origin`` and the key.

    The old form (``sources:`` ...) is converted first, with one deprecation warning."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    if is_legacy(data):
        logger.warning("%s", deprecation_notice(origin))
        try:
            data = convert_legacy(data)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    try:
        data = substitute_env(data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {format_validation_error(exc)}") from None


def read_yaml(path: str | Path) -> object:
    """The parsed YAML of ``path``; ``ConfigError`` naming the file (and the line) otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        return load_yaml_limited(text)
    except YamlLimitError as exc:
        raise ConfigError(f"{path}: refused YAML: {exc}") from None
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


def load_site_config(path: str | Path, *, tuned: bool = True) -> SiteConfig:
    """Read and validate one site YAML file. Relative paths inside stay relative to the CWD.

    ``tuned``: lay the detector settings of ``carbonedge tune`` (``SITE.tuned.yaml`` next to
    the file, ``runtime/tuned_config.py``) over the cameras it tuned (logged)."""
    config = parse_site_config(read_yaml(path), origin=str(path))
    if not tuned:
        return config
    from carbonedge.runtime.tuned_config import apply_tuned

    return apply_tuned(config, path)
