"""What the technician page does, without HTTP: snapshot, fit, save (one source per session).

The page sends JSON; every payload is validated here by a strict pydantic model, and every problem
is raised as :class:`CalibrationInputError` with the field and the reason, which the server sends
back as the message the technician sees. Nothing the page sends is trusted: the save refits the
homography on the server, and only a passing fit becomes the record's ground plane.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Literal

import cv2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.runtime.base.errors import CarbonEdgeError, DeviceError

logger = logging.getLogger(__name__)

__all__ = ["CalibrationSession", "FitRequest", "SaveRequest", "Snapshot"]

_XY = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroundPoint(_Strict):
    """One clicked pixel and the ground position the technician typed for it, in metres."""

    image_px: _XY
    world_m: _XY


class FitRequest(_Strict):
    ground_points: list[GroundPoint] = Field(max_length=200)
    grid_spacing_m: float = Field(1.0, gt=0, le=100)
    ransac_threshold_m: float = Field(0.5, gt=0, le=100)
    pass_rms_m: float = Field(0.5, gt=0, le=100)


class DrawnLine(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    start_px: _XY
    end_px: _XY


class DrawnZone(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    polygon_px: list[_XY] = Field(min_length=3, max_length=200)
    movement: Literal["none", "entry", "exit", "both"] = "none"


class SaveRequest(FitRequest):
    created_by: str = Field(min_length=1, max_length=64)
    notes: str = Field("", max_length=2000)
    snapshot_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    lines: list[DrawnLine] = Field(default_factory=list, max_length=50)
    zones: list[DrawnZone] = Field(default_factory=list, max_length=50)
    exclusion_masks_px: list[list[_XY]] = Field(default_factory=list, max_length=50)
    sky_mask_px: list[_XY] | None = None


class Snapshot:
    """One still from the source: PNG bytes, their SHA-256 and the size (width, height) px."""

    def __init__(self, png: bytes, size_px: tuple[int, int], taken_at: str) -> None:
        self.png = png
        self.sha256 = hashlib.sha256(png).hexdigest()
        self.size_px = size_px
        self.taken_at = taken_at


def parse(model: type[BaseModel], payload: Any) -> Any:
    """Validate a page payload; one message naming the field (``lines.0.id: ...``)."""
    from carbonedge.runtime.config import format_validation_error

    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise CalibrationInputError(format_validation_error(exc)) from None


class CalibrationSession:
    """The state behind one ``carbonedge calibrate serve``: a source, its snapshot and the store.

    The page starts from what is in force (the camera's config with its current record laid
    over it), and a saved record sets the lines, zones, exclusion masks and sky mask the page
    shows, so one removed on the page is removed (cleared) at run time; the ground plane only
    when a fit passed (the page cannot show a config's matrix).

    Args:
        source_config: the source's config from the site file (any registered source type).
        store: a ``RecordStore`` (``save``, ``current``).
        camera: the camera's ``CameraConfig`` (None: the page starts from the record alone).
    """

    def __init__(self, source_config: Any, store: Any, *, camera: Any = None) -> None:
        self.source_config = source_config
        self.source_id: str = source_config.id
        self.store = store
        self.camera = camera
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._live: Any = None  # LiveDetections, made on the first request

    def snapshot(self, *, fresh: bool = False) -> Snapshot:
        """The current snapshot; a new one from the source when ``fresh`` or none was taken."""
        with self._lock:
            if fresh or self._snapshot is None:
                self._snapshot = self._grab()
            return self._snapshot

    def _grab(self) -> Snapshot:
        from carbonedge.devices.sources.base import create_source

        source = create_source(self.source_config)
        try:
            source.open()
            frame = source.read()
        except CarbonEdgeError:
            raise
        except Exception as exc:  # a plugin's foreign error: name the source
            raise DeviceError(f"source {self.source_id!r}: no snapshot ({exc})") from exc
        finally:
            source.close()
        if frame is None:
            raise DeviceError(f"source {self.source_id!r} delivered no frame for the snapshot")
        ok, png = cv2.imencode(".png", frame.image)
        if not ok:
            raise DeviceError(f"source {self.source_id!r}: the snapshot could not be encoded")
        height, width = frame.image.shape[:2]
        taken_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        logger.info("snapshot of %s: %dx%d px", self.source_id, width, height)
        return Snapshot(png.tobytes(), (width, height), taken_at)

    def state(self) -> dict[str, Any]:
        """What the page needs to start: source, image size, and the record in force (if any)."""
        snap = self.snapshot()
        current = self.store.current(self.source_id)
        return {
            "source_id": self.source_id,
            "image_size_px": list(snap.size_px),
            "snapshot_sha256": snap.sha256,
            "snapshot_taken_at": snap.taken_at,
            "current": None if current is None else current.model_dump(mode="json"),
            "in_force": self._in_force(current),
        }

    def _in_force(self, current: Any) -> dict[str, Any] | None:
        """The lines, zones and masks the camera runs with now (None without ``camera``)."""
        if self.camera is None:
            return None
        from carbonedge.runtime.calibrate.overlay import overlay_record

        camera = overlay_record(self.camera, current)
        applied = camera.applied_record
        return {
            "lines": [x.model_dump(mode="json") for x in camera.lines],
            "zones": [z.model_dump(mode="json") for z in camera.zones],
            "exclusion_masks_px": [[list(p) for p in m] for m in camera.masks],
            "sky_mask_px": None if applied is None or applied.sky_mask_px is None
            else [list(p) for p in applied.sky_mask_px],
        }  # fmt: skip

    def detections(self) -> dict[str, Any]:
        """The camera's detector on its current frame (``live_detections.LiveDetections``)."""
        detector = getattr(self.camera, "detector", None)
        if detector is None:
            raise CalibrationInputError(
                f"source {self.source_id!r}: no detector configured for live detections"
            )
        with self._lock:
            if self._live is None:
                from carbonedge.runtime.calibrate.web.live_detections import LiveDetections

                self._live = LiveDetections(self.source_config, detector)
        return self._live.latest()

    def close(self) -> None:
        """Release the live detections' source and detector (if they were opened)."""
        if self._live is not None:
            self._live.close()

    def fit(self, payload: Any) -> dict[str, Any]:
        """Fit the ground plane from the page's points; the fit's numbers and the grid overlay."""
        request = parse(FitRequest, payload)
        fit = self._fit(request)
        result = fit.to_dict()
        result["grid_px"] = fit.grid_px(self.snapshot().size_px, request.grid_spacing_m)
        return result

    def _fit(self, request: FitRequest) -> Any:
        from carbonedge.calibration.homography import fit_ground_plane

        points = request.ground_points
        return fit_ground_plane(
            [p.image_px for p in points],
            [p.world_m for p in points],
            image_size_px=self.snapshot().size_px,
            ransac_threshold_m=request.ransac_threshold_m,
            pass_rms_m=request.pass_rms_m,
        )

    def save(self, payload: Any) -> dict[str, Any]:
        """Validate, refit, and save a signed record with the snapshot; returns its summary."""
        from carbonedge.calibration.record import CalibrationRecord

        request: SaveRequest = parse(SaveRequest, payload)
        snap = self.snapshot()
        if request.snapshot_sha256 != snap.sha256:
            raise CalibrationInputError(
                "the page was drawn on an older snapshot than the server holds: reload the page"
            )
        self._check_inside(request, snap.size_px)
        fit = None
        if request.ground_points:
            fit = self._fit(request)
            if fit.verdict != "pass":
                raise CalibrationInputError(
                    f"the ground-plane fit fails ({fit.reason}): fix the points, or remove them "
                    "all to save without a ground plane"
                )
        lines = [parse(LineConfig, x.model_dump()) for x in request.lines]
        zones = [parse(ZoneConfig, z.model_dump()) for z in request.zones]
        for kind, items in (("line", lines), ("zone", zones)):
            ids = [item.id for item in items]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise CalibrationInputError(f"{kind} ids must be unique, repeated: {repeated}")
        draft = CalibrationRecord(
            source_id=self.source_id,
            kind="camera",
            # the store assigns version and created_at
            created_by=request.created_by,
            lines=lines,
            zones=zones,
            exclusion_masks_px=[list(m) for m in request.exclusion_masks_px],
            sky_mask_px=None if request.sky_mask_px is None else list(request.sky_mask_px),
            ground_plane=None if fit is None else fit.ground_plane_config(),
            homography_fit=None if fit is None else fit.to_dict(),
            image_size_px=snap.size_px,
            snapshot_sha256=snap.sha256,
            notes=request.notes,
            # what the page shows replaces (or clears) the config's; the ground plane only
            # when fitted here, else the config's stays
            sets=("lines", "zones", "exclusion_masks_px", "sky_mask_px")
            + (("ground_plane",) if fit is not None else ()),
        )
        record = self.store.save(draft, snap.png)
        logger.info("saved calibration record %s by %s", record.record_id, record.created_by)
        return {
            "record_id": record.record_id,
            "version": record.version,
            "created_at": record.created_at,
            "sha256": record.sha256(),
            "verdict": None if fit is None else fit.verdict,
        }

    @staticmethod
    def _check_inside(request: SaveRequest, size_px: tuple[int, int]) -> None:
        """Every drawn point must lie on the image (1 px of slack at the borders)."""
        width, height = size_px
        named: list[tuple[str, list[_XY]]] = []
        named += [(f"line {x.id!r}", [x.start_px, x.end_px]) for x in request.lines]
        named += [(f"zone {z.id!r}", z.polygon_px) for z in request.zones]
        named += [(f"exclusion mask {i + 1}", m) for i, m in enumerate(request.exclusion_masks_px)]
        named += [("sky mask", request.sky_mask_px or [])]
        for i, mask in enumerate(request.exclusion_masks_px + [request.sky_mask_px or []]):
            if 0 < len(mask) < 3:
                what = "sky mask" if i == len(request.exclusion_masks_px) else f"mask {i + 1}"
                raise CalibrationInputError(f"{what} needs at least 3 points (got {len(mask)})")
        for what, points in named:
            for x, y in points:
                if not (-1 <= x <= width + 1 and -1 <= y <= height + 1):
                    raise CalibrationInputError(
                        f"{what}: point ({x:g}, {y:g}) is outside the {width}x{height} image"
                    )
