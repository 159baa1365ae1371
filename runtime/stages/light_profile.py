"""Stage "light_profile": classify the camera's light and switch its detector profile.

Every ``sample_every_s`` of video time the frame's statistics (``vision/light.py``: mean and
percentile grey levels, the top band's brightness, the share of saturated pixels, the global
contrast, on a 64 px wide grey copy) give a light state; the state switches after it persisted
``hold_s`` (the first sample sets it at once). The camera's ``ProfiledDetector``
(``runtime/light_profiles.py``) then runs that state's profile from the next frame on. The stage
runs before every stage that reads the detector: when the pipeline was handed a plain detector
(``carbonedge audit``, ``count``, tools), it wraps it here, with a pool of its own, and hands the
wrapped one to the stages after it. Switches are logged with the statistics that caused them;
``snapshot()`` feeds ``/healthz`` and ``/metrics``; the summary section ``light_profile`` tells
which profile was in force and for how long.
"""

from __future__ import annotations

import logging
from typing import Any

from carbonedge.runtime.base.sections import register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.light_profiles import DetectorPool, LightProfilesConfig, ProfiledDetector
from carbonedge.runtime.stages.section_schema import section_schema
from carbonedge.vision.light import LightHysteresis, LightStats, classify_light, light_stats

logger = logging.getLogger(__name__)

__all__ = ["LightProfileStage"]


def _merge(a: Any, b: Any, body_a: Any, body_b: Any) -> Any:
    """Two intervals merged: the later profile and statistics, seconds and switches added."""
    if a is None or b is None:
        return a or b
    seconds = dict(a["seconds"])
    for state, s in b["seconds"].items():
        seconds[state] = round(seconds.get(state, 0.0) + s, 3)
    return {**b, "seconds": seconds, "switches": a["switches"] + b["switches"]}


register_section("light_profile", schema=section_schema("light_profile"), owner="light_profile",
                 merge=_merge)  # fmt: skip


@register_stage
class LightProfileStage(Stage):
    name = "light_profile"
    vehicles = True  # the profiles set the vehicle detector: no use on a fire lookout
    sections = ("light_profile",)

    def __init__(self, detector: ProfiledDetector, config: LightProfilesConfig,
                 own_pool: DetectorPool | None = None) -> None:  # fmt: skip
        self.detector, self.config, self._own_pool = detector, config, own_pool
        self.hysteresis = LightHysteresis(config.hold_s)
        self.switches = 0  # over the run
        self.stats: LightStats | None = None
        self.raw: str | None = None  # the last sample's own state
        self._next_sample_s: float | None = None
        self._last_t_s: float | None = None
        self._seconds: dict[str, float] = {}
        self._interval_switches = 0

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> LightProfileStage | None:
        config = getattr(camera, "profiles", None)
        if config is None or not config.enabled:
            return None
        detector = context.services["detector"]
        if isinstance(detector, ProfiledDetector):  # the site built it (shared pool)
            return cls(detector, config)
        if not hasattr(detector, "config"):
            logger.warning("camera %s: detector %s has no settings to vary: no light profiles",
                           context.camera_id, getattr(detector, "name", detector))  # fmt: skip
            return None
        pool = DetectorPool()
        profiled = ProfiledDetector(detector, config, pool, context.camera_id)
        context.services["detector"] = profiled  # type: ignore[index]  # the stages after this
        return cls(profiled, config, pool)

    @property
    def state(self) -> str:
        return self.hysteresis.state or "day"

    def process(self, packet: Packet) -> Packet:
        frame = packet.frame
        t_s = frame.t_mono_s
        if self._last_t_s is not None and t_s > self._last_t_s:
            self._seconds[self.state] = self._seconds.get(self.state, 0.0) + t_s - self._last_t_s
        self._last_t_s = t_s
        if self._next_sample_s is None or t_s >= self._next_sample_s:
            self._next_sample_s = t_s + self.config.sample_every_s
            self._sample(packet, t_s)
        return packet

    def _sample(self, packet: Packet, t_s: float) -> None:
        rules = self.config.rules
        before = self.hysteresis.state
        self.stats = light_stats(packet.frame.image, rules)
        self.raw = classify_light(self.stats, rules)
        switched = self.hysteresis.update(self.raw, t_s)
        if before is None or switched:
            self.detector.select(self.state)
            self.switches += switched
            self._interval_switches += switched
            logger.info(
                "camera %s frame %d: light %s%s (%s); detector %s",
                packet.frame.source_id, packet.frame.index,
                f"{before} -> " if before else "starts in ", self.state, self.stats.describe(),
                self.detector.current.name,
            )  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """For ``/healthz``: the profile, the last sample's own state and statistics."""
        return {
            "profile": self.state,
            "last_sample": self.raw,
            "switches": self.switches,
            "detector": self.detector.current.name,
            "stats": None if self.stats is None else self.stats.to_dict(),
        }

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any] | None:
        if self.hysteresis.state is None:
            return None  # no frame yet
        seconds = {k: round(v, 3) for k, v in self._seconds.items()}
        section = {"profile": self.state, "seconds": seconds, "switches": self._interval_switches}
        if self.stats is not None:
            section["stats"] = self.stats.to_dict()
        self._seconds, self._interval_switches = {}, 0
        return {"light_profile": section}

    def close(self) -> None:
        if self._own_pool is not None:
            self._own_pool.close()
