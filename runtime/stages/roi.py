"""Stage "roi": the part of the frame the shared detector looks at, on ``packet.roi_xyxy``.

The detector's config says what it wants (``roi: auto``, the default: around the camera's lines
and zones, grown by ``roi_margin_px``; or a fixed [x0, y0, x1, y1] px box) and
``Detector.roi_box`` turns that and this camera's lines and zones into the final box. This stage
keeps the box of the camera's current frame size, so the detector itself keeps no per-camera
state and one instance serves every camera. Built only when the detector has a ``roi`` and the
camera counts traffic (no detect stage otherwise).

Learned margins (``roi: auto`` with no ``roi_margin_px``, the default): a new camera is detected
whole-frame until ``roi_learn_vehicles`` tracks were seen at its lines and zones; the margins
then come from those vehicles' box sizes (``roi.margins_from_boxes``), and the crop is logged
with the setting that pins it and shown in ``/healthz``. By default it is only proposed
(``roi_learned: propose``: detection stays whole-frame; on the dev truth clips applying it lost
crossings of fast vehicles that enter the crop too late to be tracked); with ``roi_learned:
apply`` the detector uses it, and a vehicle at a line whose box touches the crop's inner edge
later (a lorry taller than any seen while learning) grows that side.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Frame, Packet
from carbonedge.runtime.stages.traffic import regions_px

if TYPE_CHECKING:  # importing the detectors package loads onnxruntime
    from numpy.typing import NDArray

    from carbonedge.vision.detectors.roi import RoiBox

logger = logging.getLogger(__name__)

__all__ = ["RoiStage"]


@register_stage
class RoiStage(Stage):
    """Sets ``packet.roi_xyxy`` (None: the whole frame) for the detect stage."""

    name = "roi"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)

    #: Frames of box samples kept while learning (the newest win), and growths per side at most.
    MAX_SAMPLES = 4000
    MAX_GROWTHS = 4

    def __init__(self, detector: Any, regions: list[NDArray]) -> None:
        """``detector``: the shared detector (its ``roi``, ``roi_learn_vehicles`` and
        ``roi_box``); ``regions``: the camera's lines and zones, each (K, 2) x, y px."""
        self.detector = detector
        self.regions = regions
        self._box: tuple[tuple[int, int], RoiBox | None] | None = None  # (frame hw, its box)
        self.learn_vehicles: int | None = detector.roi_learn_vehicles if regions else None
        self.apply_learned = getattr(detector, "roi_learned", "propose") == "apply"
        self.margin_px: list[float] | None = None  # learned (left, top, right, bottom)
        self._samples: list[NDArray] = []
        self._seen_tracks: set[int] = set()
        self._growths = [0, 0, 0, 0]
        self._prev: Packet | None = None

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> RoiStage | None:
        detector = context.services["detector"]
        if getattr(detector, "roi", None) is None:
            return None
        return cls(detector, regions_px(camera))

    def process(self, packet: Packet) -> Packet:
        frame = packet.frame
        watching = self.margin_px is None or self.apply_learned  # learning, or guarding a crop
        if self._prev is not None and self.learn_vehicles is not None and watching:
            self._look_at(self._prev.detections)  # the last frame, tracked by now
        self._prev = packet
        if self._box is None or self._box[0] != frame.shape_hw:  # first frame, or a new size
            self._box = (frame.shape_hw, self._compute(frame))
        packet.roi_xyxy = self._box[1]
        return packet

    def snapshot(self) -> dict[str, Any]:
        """What ``/healthz`` shows: the crop, where its margins came from, and a hint."""
        box = None if self._box is None else self._box[1]
        out: dict[str, Any] = {"box": None if box is None else list(box)}
        if self.learn_vehicles is None:
            out["state"] = "configured" if box is not None else "whole_frame"
        elif self.margin_px is None:
            out.update(state="learning", vehicles_seen=len(self._seen_tracks),
                       vehicles_needed=self.learn_vehicles)  # fmt: skip
        else:
            state = "learned" if self.apply_learned else "proposed"
            out.update(state=state, margin_px=self.margin_px, hint=self._hint())
            if not self.apply_learned and self._box is not None:
                proposed = self.detector.roi_box(self._box[0], self.regions, self.margin_px)
                out["proposed_box"] = None if proposed is None else list(proposed)
        return out

    def _hint(self) -> str:
        if self.apply_learned:
            return f"pin it with roi_margin_px: {self.margin_px} in the camera's detector settings"
        return (
            f"detect inside it with roi_margin_px: {self.margin_px} in the camera's detector "
            "settings (check the counts with carbonedge tune --check), or roi_learned: apply"
        )

    def _look_at(self, detections: Any) -> None:
        """Learn from (or, once learned, check the crop against) one frame's tracked boxes."""
        from carbonedge.vision.detectors import roi

        tracked = np.flatnonzero(detections.tracker_id >= 0)  # only tracked boxes count
        if len(tracked) == 0:
            return
        xyxy = detections.xyxy[tracked]  # a copy (fancy indexing): kept as a sample
        near = roi.near_regions(xyxy, self.regions)  # per box: the same on the tracked rows
        if not near.any():
            return
        xyxy = xyxy[near]
        if self.margin_px is None:
            self._samples.append(xyxy)
            del self._samples[: -self.MAX_SAMPLES]  # a car parked at the line for days: bounded
            self._seen_tracks.update(detections.tracker_id[tracked[near]].tolist())
            if len(self._seen_tracks) >= self.learn_vehicles:
                self._learned()
        elif self.apply_learned:
            self._grow_if_cut(xyxy)

    def _learned(self) -> None:
        from carbonedge.vision.detectors import roi

        samples = np.concatenate(self._samples)[-self.MAX_SAMPLES :]
        self.margin_px = list(roi.margins_from_boxes(samples))
        self._samples.clear()
        verb = "detecting inside" if self.apply_learned else "proposed"
        logger.info(
            "camera %s: learned the detector's crop from %d vehicles at the lines (%s): margins "
            "[left, top, right, bottom] %s px; %s", self._camera(), len(self._seen_tracks), verb,
            self.margin_px, self._hint(),
        )  # fmt: skip
        if self.apply_learned:
            self._box = None  # recomputed with the margins on the next frame

    def _grow_if_cut(self, xyxy: NDArray) -> None:
        """A vehicle crossing a line (its anchor within a quarter of its height of it) cut by an
        inner edge of the crop: grow that side's margin by half (at most ``MAX_GROWTHS`` times
        per side). Boxes over three times the learned median height are not vehicles cut by
        the crop but false road-wide boxes, and are ignored."""
        from carbonedge.vision.detectors import roi

        if self._box is None or self._box[1] is None:
            return
        heights = xyxy[:, 3] - xyxy[:, 1]
        crossing = roi.near_regions(xyxy, self.regions, reach=0.25) & (
            heights <= 3.0 * self.margin_px[1] / roi.LEARNED_MARGIN_SIZES[1]
        )
        if not crossing.any():
            return
        xyxy = xyxy[crossing]
        (h, w), (x0, y0, x1, y1) = self._box[0], self._box[1]
        cut = (  # left, top, right, bottom: touching an edge that is not the frame's
            x0 > 0 and bool((xyxy[:, 0] <= x0 + 1).any()),
            y0 > 0 and bool((xyxy[:, 1] <= y0 + 1).any()),
            x1 < w and bool((xyxy[:, 2] >= x1 - 1).any()),
            y1 < h and bool((xyxy[:, 3] >= y1 - 1).any()),
        )
        grew = [side for side, is_cut in enumerate(cut) if is_cut]
        grew = [side for side in grew if self._growths[side] < self.MAX_GROWTHS]
        for side in grew:
            self.margin_px[side] = round(self.margin_px[side] * 1.5, 1)
            self._growths[side] += 1
        if grew:
            logger.info("camera %s: a vehicle crossing a line was cut by the crop: margins now "
                        "%s px", self._camera(), self.margin_px)  # fmt: skip
            self._box = None

    def _camera(self) -> str:
        context = getattr(self, "context", None)  # set by start()
        return context.camera_id if context is not None else "?"

    def _compute(self, frame: Frame) -> RoiBox | None:
        """The box for ``frame``'s size; ``ValueError`` naming the frame when it is outside."""
        where = f"frame {frame.source_id}#{frame.index}"
        if self.detector.roi == "auto" and not self.regions:
            logger.warning("%s: roi auto, but no lines or zones: whole frame", where)
        margin = self.margin_px if self.apply_learned or self.learn_vehicles is None else None
        try:
            box = self.detector.roi_box(frame.shape_hw, self.regions, margin)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if self.learn_vehicles is not None and self.margin_px is None:
            logger.info("%s: whole frame until %d vehicles were seen at the lines (learning "
                        "the crop)", where, self.learn_vehicles)  # fmt: skip
        else:
            logger.info("%s: detecting inside %s", where, box or "the whole frame")
        return box
