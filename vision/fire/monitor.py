"""``FireMonitor``: frames in, ``FireAlarm`` events out, one state per camera.

The runtime drives it frame by frame (``update(frame)``); candidates come from the weight-free
pixel detector or from a learned Ultralytics-layout ONNX model, and pass the same scene-aware
confirmation. Per-camera state is dropped by ``forget(source_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.fire.config import FireMonitorConfig, ModelDetectorConfig
from carbonedge.vision.fire.confirm import Candidate, Confirmer, Decision
from carbonedge.vision.fire.events import AlarmStatus, FireAlarm, FireBox
from carbonedge.vision.fire.evidence import write_evidence
from carbonedge.vision.fire.pixels import PixelFireDetector
from carbonedge.vision.fire.scene import Scene, SceneCalibration

logger = logging.getLogger(__name__)


@dataclass
class _Camera:
    scene: Scene
    confirmer: Confirmer
    started_t_wall_s: float = 0.0
    update_seq: int = 0
    last_boxes: tuple[FireBox, ...] = ()
    last_confidence: float = 0.0
    roi_xyxy: tuple[int, int, int, int] | None = None  # a model detector's roi at this size


class FireMonitor:
    """Fire/smoke alarms of every camera of one box.

    Args:
        config: the monitor's settings.
        device_id: the box's id (goes into every event and its stable id).
        scene_calibration: source id -> its calibration record's sky/exclusion masks and
            azimuth (``calibration.masks.SourceMasks``), for the cameras that have one.
    """

    def __init__(
        self,
        config: FireMonitorConfig,
        device_id: str,
        scene_calibration: Mapping[str, SceneCalibration] | None = None,
    ) -> None:
        self.config = config
        self.device_id = device_id
        self._cameras: dict[str, _Camera] = {}
        self._scene_calibration = dict(scene_calibration or {})
        det = config.detector
        if isinstance(det, ModelDetectorConfig):
            from carbonedge.vision.detectors.ultralytics import UltralyticsDetector

            self.detector = UltralyticsDetector(det)
            if det.roi == "auto":
                logger.warning("fire detector: roi auto, but no lines or zones: whole frame")
            names = self.detector.class_names
            self._class_map = {
                i: ("smoke" if n in det.smoke_classes else "fire")
                for i, n in enumerate(names)
                if n in det.smoke_classes or n in det.fire_classes
            }
        else:
            self.detector = PixelFireDetector(det)
            self._class_map = {0: "smoke", 1: "fire"}
        self.detector_name = self.detector.name

    def warmup(self) -> None:
        if hasattr(self.detector, "warmup"):
            self.detector.warmup()

    def forget(self, source_id: str) -> None:
        self._cameras.pop(source_id, None)
        self.detector.forget(source_id)

    def candidates(self, detections: Detections) -> list[Candidate]:
        """Detections of the fire/smoke classes as candidates."""
        out = []
        columns = (detections.xyxy, detections.confidence, detections.class_id)
        for xyxy, conf, cls in zip(*columns, strict=True):
            name = self._class_map.get(int(cls))
            if name is not None:
                out.append(Candidate(tuple(float(v) for v in xyxy), name, float(conf)))
        return out

    def update(self, frame: Frame) -> list[FireAlarm]:
        """Process one frame; the alarm events it caused (usually none)."""
        cam = self._camera(frame)
        if cam.roi_xyxy is None:
            return self.confirm(frame, self.detector.detect(frame))
        return self.confirm(frame, self.detector.detect(frame, cam.roi_xyxy))

    def _camera(self, frame: Frame) -> _Camera:
        """The camera's state; its scene is built on its first frame and on a new frame size."""
        cam = self._cameras.get(frame.source_id)
        if cam is None or cam.scene.shape_hw != frame.shape_hw:
            calibration = self._scene_calibration.get(frame.source_id)
            scene = Scene.build(frame.image, self.config.scene, calibration)
            cam = _Camera(scene, Confirmer(self.config.confirm))
            set_band = getattr(self.detector, "set_band", None)  # the pixel detector's band view
            if set_band is not None:
                set_band(frame.source_id, scene.band_rows())
            roi_box = getattr(self.detector, "roi_box", None)  # a model detector's fixed roi
            if roi_box is not None:
                cam.roi_xyxy = roi_box(frame.shape_hw)
            self._cameras[frame.source_id] = cam
        return cam

    def confirm(self, frame: Frame, detections: Detections) -> list[FireAlarm]:
        """Confirmation and events for detections of ``frame`` from any source (tests, models)."""
        cam = self._camera(frame)
        night = getattr(self.detector, "last_mode", {}).get(frame.source_id) == "night"
        decision = cam.confirmer.step(
            self.candidates(detections), cam.scene, frame.t_mono_s, night=night
        )
        if decision.action == "none":
            return []
        return [self._event(cam, frame, decision)]

    def _event(self, cam: _Camera, frame: Frame, decision: Decision) -> FireAlarm:
        status: AlarmStatus = decision.action  # type: ignore[assignment]
        if status == "start":
            cam.started_t_wall_s = frame.t_wall_s
            cam.update_seq = 0
        else:
            cam.update_seq += 1
        if decision.tracks:
            cam.last_boxes = tuple(
                FireBox(t.last_box, t.class_name, t.confidence * t.vote() / len(t.hits))
                for t in decision.tracks
            )
            cam.last_confidence = max(b.confidence for b in cam.last_boxes)
        boxes = cam.last_boxes if status != "end" else ()
        full = crop = None
        bearing = None
        if cam.last_boxes:
            main = max(
                cam.last_boxes, key=lambda b: (b.xyxy[2] - b.xyxy[0]) * (b.xyxy[3] - b.xyxy[1])
            )
            bearing = cam.scene.bearing_deg(
                (main.xyxy[0] + main.xyxy[2]) / 2, (main.xyxy[1] + main.xyxy[3]) / 2
            )
        if status != "end":
            stem = f"fire_{frame.source_id}_{int(frame.t_wall_s)}_{status}{cam.update_seq}"
            full, crop = write_evidence(frame.image, boxes, stem, self.config.evidence)
        alarm = FireAlarm(
            device_id=self.device_id, source_id=frame.source_id, status=status,
            update_seq=cam.update_seq, started_t_wall_s=cam.started_t_wall_s,
            t_wall_s=frame.t_wall_s, frame_index=frame.index,
            classes=tuple(sorted({b.class_name for b in cam.last_boxes})),
            confidence=cam.last_confidence, boxes=boxes, image_hw=frame.shape_hw,
            bearing_deg=bearing, evidence_full_path=full, evidence_crop_path=crop,
            detector=self.detector_name,
        )  # fmt: skip
        logger.info(
            "fire alarm %s %s on %s frame %d: %s", status, alarm.alarm_id[:8], frame.source_id,
            frame.index, ", ".join(b.class_name for b in boxes) or "-",
        )  # fmt: skip
        return alarm
