"""Stage "zoom": which of the camera's lines and zones the detector looks at again, zoomed in.

Road users a few pixels tall at a line are what a 416 px COCO detector misses most (README,
"Hard light and distance"). The detector's ``zoom`` settings (``vision/detectors/zoom.py``) say
how; this stage keeps, per camera, which regions need it and hands their windows to the detect
stage on ``packet.zoom_xyxy``. With ``mode: auto`` every line and zone starts zoomed
(``learn_zoomed: false``: unzoomed); once
``learn_tracks`` tracks were seen at one (their box's bottom centre within one box height of
it, on the tracked frames after the zoom passes), the median of their median box heights, in
the model's input px, decides: under ``below_px`` it stays zoomed, else it is seen by the
whole-frame pass alone from then on. A region is decided early (``EARLY``) when every track seen
at it so far stands above ``below_px``, 5 of them (a sign test), or twice that, 3 of them: its
road users are plainly large, and the rest of its learning would pay for zoom passes that find
nothing. The decision is logged and shown in ``/healthz``
(``sources.<id>.zoom``). Built only when the detector has zoom settings, the mode is not
``off`` and the camera counts on lines or zones.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.traffic import regions_px

if TYPE_CHECKING:  # importing the detectors package loads onnxruntime
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

__all__ = ["ZoomStage"]


class _Region:
    """One line or zone: zoomed or not, and the box heights (frame px) of tracks seen at it."""

    def __init__(self, name: str, points: NDArray, zoomed: bool, decided: bool) -> None:
        self.name = name
        self.points = points
        self.zoomed = zoomed
        self.decided = decided  # mode "on" is decided from the start
        self.heights: dict[int, list[float]] = {}
        self.median_model_px: float | None = None


@register_stage
class ZoomStage(Stage):
    """Sets ``packet.zoom_xyxy`` (the windows of the regions that stay zoomed)."""

    name = "zoom"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    #: Heights kept per track while a region is learning (the newest win).
    MAX_HEIGHTS = 64
    #: Early "no zoom": (n, f): a region whose tracks so far, n or more, each stand at least
    #: f x below_px (its median height) in the model input is decided then. (5, 1.0) is a sign
    #: test: were the median under below_px, 5 tracks in a row above it would come less than
    #: once in 32 times; (3, 2.0) asks for a wide margin instead of more tracks.
    EARLY: tuple[tuple[int, float], ...] = ((3, 2.0), (5, 1.0))

    def __init__(self, detector: Any, names: list[str], regions: list[NDArray]) -> None:
        self.detector = detector
        self.settings = detector.zoom
        auto = self.settings.mode == "auto"
        start = not auto or self.settings.learn_zoomed
        self.regions = [_Region(n, r, zoomed=start, decided=not auto)
                        for n, r in zip(names, regions, strict=True)]  # fmt: skip
        self._windows: tuple[tuple[int, int], tuple[tuple[int, int, int, int], ...]] | None = None
        self._prev: Packet | None = None

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> ZoomStage | None:
        detector = context.services["detector"]
        settings = getattr(detector, "zoom", None)
        regions = regions_px(camera)
        if settings is None or settings.mode == "off" or not regions:
            return None
        names = [f"line {line.id}" for line in camera.lines]
        names += [f"zone {zone.id}" for zone in camera.zones]
        return cls(detector, names, regions)

    def process(self, packet: Packet) -> Packet:
        frame = packet.frame
        if self._prev is not None and not all(r.decided for r in self.regions):
            self._look_at(self._prev)  # the last frame, tracked by now
        self._prev = packet
        if self._windows is None or self._windows[0] != frame.shape_hw:
            self._windows = (frame.shape_hw, self._compute(frame.shape_hw))
        packet.zoom_xyxy = self._windows[1]
        return packet

    def snapshot(self) -> dict[str, Any]:
        """What ``/healthz`` shows: each region zoomed or not, and why."""
        out: dict[str, Any] = {"windows": [list(w) for w in (self._windows or ((), ()))[1]]}
        for r in self.regions:
            entry: dict[str, Any] = {"zoomed": r.zoomed}
            if not r.decided:
                entry.update(state="learning", tracks_seen=len(r.heights),
                             tracks_needed=self.settings.learn_tracks)  # fmt: skip
            elif r.median_model_px is not None:
                entry.update(state="decided", median_height_model_px=r.median_model_px)
            else:
                entry["state"] = "configured"
            out[r.name] = entry
        return out

    def _look_at(self, packet: Packet) -> None:
        from carbonedge.vision.detectors import roi

        detections = packet.detections
        tracked = np.flatnonzero(detections.tracker_id >= 0)
        if len(tracked) == 0:
            return
        xyxy = detections.xyxy[tracked]
        ids = detections.tracker_id[tracked]
        heights = xyxy[:, 3] - xyxy[:, 1]
        for region in self.regions:
            if region.decided:
                continue
            near = roi.near_regions(xyxy, [region.points])
            for tid, h in zip(ids[near].tolist(), heights[near].tolist(), strict=True):
                seen = region.heights.setdefault(int(tid), [])
                seen.append(float(h))
                del seen[: -self.MAX_HEIGHTS]
            if len(region.heights) >= self.settings.learn_tracks or self._plainly_large(
                region, packet.frame.shape_hw
            ):
                self._decide(region, packet.frame.shape_hw)

    def _plainly_large(self, region: _Region, frame_hw: tuple[int, int]) -> bool:
        n = len(region.heights)
        if n < min(tracks for tracks, _ in self.EARLY):
            return False
        smallest = min(float(np.median(h)) for h in region.heights.values())
        smallest *= self.detector.model_px_per_frame_px(frame_hw)
        return any(n >= tracks and smallest >= factor * self.settings.below_px
                   for tracks, factor in self.EARLY)  # fmt: skip

    def _decide(self, region: _Region, frame_hw: tuple[int, int]) -> None:
        per_track = [float(np.median(h)) for h in region.heights.values()]
        scale = self.detector.model_px_per_frame_px(frame_hw)
        region.median_model_px = round(float(np.median(per_track)) * scale, 1)
        region.decided = True
        region.heights.clear()
        zoomed = region.median_model_px < self.settings.below_px
        logger.info(
            "camera %s: %s: road users there stand %.1f px in the model input (median of %d "
            "tracks); %s", self._camera(), region.name, region.median_model_px, len(per_track),
            f"zoomed in {self.settings.factor:g}x (under {self.settings.below_px:g} px)"
            if zoomed else f"no zoom (from {self.settings.below_px:g} px)",
        )  # fmt: skip
        if zoomed != region.zoomed:
            region.zoomed = zoomed
            self._windows = None  # recomputed on the next frame

    def _compute(self, frame_hw: tuple[int, int]) -> tuple[tuple[int, int, int, int], ...]:
        from carbonedge.vision.detectors.zoom import zoom_windows

        zoomed = [r.points for r in self.regions if r.zoomed]
        windows = zoom_windows(zoomed, frame_hw, self.settings.factor, self.settings.max_windows)
        return tuple(windows)

    def _camera(self) -> str:
        context = getattr(self, "context", None)  # set by start()
        return context.camera_id if context is not None else "?"
