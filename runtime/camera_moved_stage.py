"""The camera-moved check in a running site: reference view, events, interval mark, health.

The reference is the source's calibration snapshot (the lines were drawn on it), else the
configured ``reference_image``. The stage lives as long as the site, so a restarted source keeps
its state; ``Site.health()`` shows a moved source as ``calibration_invalid``.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import CameraMoved
from carbonedge.runtime.base.types import Frame
from carbonedge.vision.camera_moved import CameraMovedCheck, CameraMovedConfig

logger = logging.getLogger(__name__)

__all__ = ["CameraMovedStage", "camera_moved_stages", "load_reference", "reference_for"]


def load_reference(path: Path) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 BGR reference; ``ConfigError`` naming the file when it is unreadable."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: cannot read the camera-moved reference image (no such file)")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"{path}: cannot read the camera-moved reference image")
    return image


def reference_for(
    source_id: str, config: CameraMovedConfig, record: Any = None, records: Any = None
) -> tuple[NDArray[np.uint8], str]:
    """The reference view of ``source_id`` and where it comes from.

    The snapshot of the source's calibration record (``record`` in ``records``, a
    ``RecordStore``) when it has one: the lines were drawn on it; else ``reference_image``.
    """
    if record is not None and records is not None:
        path = records.snapshot_path(record)  # a snapshot not matching its hash raises
        if path is not None:
            return load_reference(path), f"{record.record_id} snapshot"
    if config.reference_image is not None:
        return load_reference(config.reference_image), str(config.reference_image)
    raise ConfigError(
        f"cameras.{source_id}.camera_moved: no reference view: give reference_image, or a "
        f"calibration record with a snapshot for camera {source_id!r}"
    )


class CameraMovedStage:
    """One source's check in the pipeline: events on changes, the interval mark, health.

    Built once per source by the site, so a restart of the source keeps its state. ``update``
    returns a ``CameraMoved`` event when the state becomes ``moved`` (calibration invalid) and
    when it returns to ``ok`` ("restored").
    """

    def __init__(self, check: CameraMovedCheck, *, device_id: str, source_id: str,
                 reference: str) -> None:  # fmt: skip
        self.check, self.device_id, self.source_id = check, device_id, source_id
        self.reference = reference
        self._invalid_in_interval = False
        self._lock = threading.Lock()

    @property
    def calibration_valid(self) -> bool:
        return self.check.state != "moved"

    def update(self, frame: Frame) -> list[CameraMoved]:
        with self._lock:
            before = self.check.state
            state = self.check.update(frame.image, frame.t_mono_s)
            self._invalid_in_interval |= state == "moved"
        if state == before or "moved" not in (state, before):
            return []
        last = self.check.last
        assert last is not None
        status = "moved" if state == "moved" else "restored"
        log = logger.error if status == "moved" else logger.warning
        log("source %s: camera %s (shift %s px, rotation %.2f deg, score %.2f vs %s); counts on "
            "its lines are %s", self.source_id, status, last.to_dict()["shift_px"],
            last.rotation_deg, last.score, self.reference,
            "not trusted until it is recalibrated" if status == "moved" else "trusted again",
        )  # fmt: skip
        shift = last.shift_px if math.isfinite(last.displacement_px) else (0.0, 0.0)
        return [CameraMoved(
            device_id=self.device_id, source_id=self.source_id, status=status,
            frame_index=frame.index, t_wall_s=frame.t_wall_s,
            shift_px=(round(shift[0], 2), round(shift[1], 2)),
            rotation_deg=round(last.rotation_deg, 3),
            displacement_px=round(last.displacement_px, 2) if math.isfinite(last.displacement_px)
            else None, score=round(last.score, 3), verdict=last.verdict, reference=self.reference,
        )]  # fmt: skip

    def close_interval(self) -> bool:
        """Whether the calibration held over the whole interval that closes now."""
        with self._lock:
            valid = not self._invalid_in_interval
            self._invalid_in_interval = self.check.state == "moved"
        return valid

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state for ``/healthz``."""
        with self._lock:
            last = self.check.last
            return {
                "state": self.check.state,
                "calibration_valid": self.check.state != "moved",
                "reference": self.reference,
                "checks": self.check.checks,
                "last": last.to_dict() if last is not None else None,
            }


def camera_moved_stages(config: Any, records: dict[str, Any]) -> dict[str, CameraMovedStage]:
    """camera id -> its stage, for every camera of a site config with a ``camera_moved`` section.

    ``records`` are the current calibration records (``calibrate.overlay.current_records``); a
    missing or unreadable reference fails here, at startup, naming the camera or the file."""
    sections: dict[str, CameraMovedConfig] = {
        camera_id: camera.camera_moved
        for camera_id, camera in config.cameras.items()
        if camera.camera_moved is not None
    }
    if not sections:
        return {}
    from carbonedge.runtime.calibrate.active import record_store_for

    store = record_store_for(config) if records else None
    stages = {}
    for source_id, section in sections.items():
        image, label = reference_for(source_id, section, records.get(source_id), store)
        try:
            check = CameraMovedCheck(image, section)
        except ValueError as exc:
            raise ConfigError(f"cameras.{source_id}.camera_moved: {exc} ({label})") from None
        stages[source_id] = CameraMovedStage(
            check, device_id=config.device_id, source_id=source_id, reference=label
        )
        logger.info("source %s: camera-moved check against %s every %.0f s", source_id, label,
                    section.check_every_s)  # fmt: skip
    return stages
