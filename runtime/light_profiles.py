"""Light profiles: per-camera detector settings for day, dusk, night, glare and fog.

``profiles:`` (a camera key with a site-wide default, like ``detector:``) maps each light state of
``vision/light.py`` to a ``LightProfile``: overrides deep-merged over the camera's detector
(``detector: {score_threshold: 0.3}``; a mapping with another ``type:`` replaces it) and
``fuse_motion`` (the result wrapped in the fused detector: the model's boxes plus sensitive motion
blobs as ``vehicle``, ``vision/detectors/fused.py``). ``profiles: off`` (or ``false``) disables
the switch: the camera runs its detector as configured.

The built-in default: ``day`` runs the camera's detector unchanged; ``dusk``, ``night``, ``glare``
and ``fog`` fuse motion, ``dusk`` and ``night`` headlight pairs too (README, "Hard light and
distance", for the measurements).

A camera's ``ProfiledDetector`` is what its stages see as the detector: it runs the current
profile's detector and maps its class ids into one stable table (the camera detector's names,
then any extra name such as ``vehicle``), so class-mapping stages built at start keep working
after a switch. The detectors themselves come from a ``DetectorPool``: built lazily, warmed up
once and shared by every camera whose profile needs equal settings.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator

from carbonedge.runtime.base.model import StrictModel
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.detectors.base import CropOfInner
from carbonedge.vision.light import LIGHT_STATES, LightRules

if TYPE_CHECKING:  # the detectors package loads onnxruntime
    from carbonedge.vision.detectors import Detector

logger = logging.getLogger(__name__)

__all__ = ["DetectorPool", "LightProfile", "LightProfilesConfig", "ProfiledDetector"]


class LightProfile(StrictModel):
    """What one light state changes in the camera's detection."""

    detector: dict[str, Any] = Field(
        default_factory=dict,
        description="overrides deep-merged over the camera's detector (thresholds, contrast, "
        "slices, ...; another type: replaces it)",
    )
    fuse_motion: bool = Field(
        False, description="add sensitive motion blobs where the model saw nothing (fused)"
    )
    fused: dict[str, Any] = Field(
        default_factory=dict,
        description="settings of the fused detector when fuse_motion (motion, max_overlap, "
        "max_blob_fraction)",
    )

    @field_validator("fused")
    @classmethod
    def _fused_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        if {"type", "detector"} & set(value):
            raise ValueError("type and detector are set by the profile, not here")
        from carbonedge.vision.detectors.fused import FusedConfig

        FusedConfig.model_validate(value)  # the settings are checked now, not at start-up
        return value


def _fusing() -> LightProfile:
    return LightProfile(fuse_motion=True)


def _fusing_lamps() -> LightProfile:
    """Dusk and night: fused motion and headlight pairs (these switch themselves on only in a
    dark frame, mean grey <= 70: a lit city street at night stays off, ``fused.py``)."""
    return LightProfile(fuse_motion=True, fused={"headlights": True})


class LightProfilesConfig(StrictModel):
    """``profiles:``: switch each camera's detection with its light (``off``: never)."""

    enabled: bool = Field(True, description="classify the light and switch profiles")
    sample_every_s: float = Field(
        1.0, gt=0, le=600, description="measure the frame statistics this often (video time)"
    )
    hold_s: float = Field(
        30.0, ge=0, le=3600,
        description="a new light state must persist this long before the profile switches",
    )  # fmt: skip
    rules: LightRules = Field(
        default_factory=LightRules, description="thresholds of the light classifier"
    )
    day: LightProfile = Field(default_factory=LightProfile, description="the camera's detector")
    dusk: LightProfile = Field(
        default_factory=_fusing_lamps, description="fused motion and headlight pairs"
    )
    night: LightProfile = Field(
        default_factory=_fusing_lamps, description="fused motion and headlight pairs"
    )
    glare: LightProfile = Field(default_factory=_fusing, description="fused motion")
    fog: LightProfile = Field(default_factory=_fusing, description="fused motion")

    @model_validator(mode="before")
    @classmethod
    def _off(cls, data: object) -> object:
        """``profiles: off`` / ``false`` / ``on`` / ``true``."""
        if isinstance(data, bool):
            return {"enabled": data}
        if isinstance(data, str) and data.lower() in ("off", "on"):
            return {"enabled": data.lower() == "on"}
        return data

    def profile(self, state: str) -> LightProfile:
        return getattr(self, state)  # type: ignore[no-any-return]


def profile_detector_settings(base: dict[str, Any], profile: LightProfile) -> dict[str, Any]:
    """The detector settings of ``profile`` over the camera's detector settings ``base``."""
    from carbonedge.runtime.config import merge_over

    settings = merge_over(base, profile.detector) if profile.detector else dict(base)
    assert isinstance(settings, dict)
    if profile.fuse_motion and settings.get("type") not in ("fused", "motion"):
        settings = {**profile.fused, "type": "fused", "detector": settings}
    return settings


class DetectorPool:
    """Detectors by settings: built (and warmed up) on first use, shared, closed together."""

    def __init__(self) -> None:
        self._built: list[tuple[dict[str, Any], Detector]] = []
        self._owned: list[Detector] = []
        self._lock = threading.Lock()

    def adopt(self, settings: dict[str, Any], detector: Detector) -> None:
        """An already built detector (the site's) serves ``settings``; the pool does not close
        it."""
        with self._lock:
            self._built.append((settings, detector))

    def get(self, settings: dict[str, Any]) -> Detector:
        from pydantic import TypeAdapter

        from carbonedge.runtime.config import DetectorConfig
        from carbonedge.vision.detectors import create_detector

        config = TypeAdapter(DetectorConfig).validate_python(settings)
        canonical = config.model_dump()
        with self._lock:
            for known, detector in self._built:
                if known == canonical:
                    return detector
            detector = create_detector(config)
            detector.warmup()
            self._built.append((canonical, detector))
            self._owned.append(detector)
            logger.info("light profiles: built detector %s", detector.name)
            return detector

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
            self._built = [(s, d) for s, d in self._built if d not in owned]
        for detector in owned:
            detector.close()


class ProfiledDetector(CropOfInner):
    """One camera's detector under light profiles (module docstring); ``select`` switches.

    A profile's detector is taken from the pool the first time the profile is selected (day, the
    camera's own detector, is there from the start). Class ids are mapped into one table: the
    camera detector's names, plus ``vehicle`` when a profile may differ (the fused detector's
    motion class); rows of a name outside it are dropped, with one warning."""

    needs_every_frame = False  # per frame: ``needs_every_frame_now`` (the motion gate is kept)

    def __init__(self, base: Detector, config: LightProfilesConfig, pool: DetectorPool,
                 camera_id: str) -> None:  # fmt: skip
        self.base, self.config, self.camera_id, self.pool = base, config, camera_id, pool
        base_settings = base.config.model_dump()  # type: ignore[attr-defined]
        pool.adopt(base_settings, base)
        self.settings = {state: profile_detector_settings(base_settings, config.profile(state))
                         for state in LIGHT_STATES}  # fmt: skip
        names = tuple(base.class_names)
        varies = any(v != base_settings for v in self.settings.values())
        self.class_names = names if not varies or "vehicle" in names else (*names, "vehicle")
        self._ids: dict[int, NDArray[np.int32] | None] = {}
        self._used: dict[int, Detector] = {}
        self._warned: set[str] = set()
        self.name = base.name
        self.state = "day"
        self.current = self.detector_for("day")

    def detector_for(self, state: str) -> Detector:
        """The detector of ``state``'s profile (built by the pool on first use)."""
        detector = self.pool.get(self.settings[state])
        if id(detector) not in self._ids:
            table = np.array([self.class_names.index(n) if n in self.class_names else -1
                              for n in detector.class_names], np.int32)  # fmt: skip
            same = np.array_equal(table, np.arange(len(table)))
            self._ids[id(detector)] = None if same else table
            self._used[id(detector)] = detector
        return detector

    @property
    def needs_every_frame_now(self) -> bool:
        return bool(self.current.needs_every_frame)

    @property
    def crop_inner(self) -> Any:
        return self.base  # every profile detects inside the camera detector's crop

    def select(self, state: str) -> None:
        """Run the profile of ``state`` from the next frame on."""
        new = self.detector_for(state)
        if new is not self.current and self.current.needs_every_frame:
            self.current.forget(self.camera_id)  # a stale background must not come back later
        self.state, self.current = state, new

    def detect(self, frame: Frame, roi_xyxy: Any = None, zoom_xyxy: Any = ()) -> Detections:
        found = self.current.detect(frame, roi_xyxy, zoom_xyxy)  # ignored by one without zoom
        table = self._ids[id(self.current)]
        if table is None or len(found) == 0:
            return found
        ids = table[found.class_id]
        if (ids < 0).any():
            unknown = {self.current.class_names[i] for i in found.class_id[ids < 0]}
            if unknown - self._warned:
                logger.warning("camera %s: light profile %s: classes %s are not among %s: "
                               "dropped", self.camera_id, self.state, sorted(unknown),
                               list(self.class_names))  # fmt: skip
                self._warned |= unknown
            found, ids = found[ids >= 0], ids[ids >= 0]
        return Detections(found.xyxy, found.confidence, ids, tracker_id=found.tracker_id,
                          source_row=found.source_row, data=found.data)  # fmt: skip

    def warmup(self) -> None:
        """The pool warmed them up."""

    def forget(self, source_id: str) -> None:
        for detector in self._used.values():
            detector.forget(source_id)

    def close(self) -> None:
        """The pool (and the site, for its own) close the detectors."""
