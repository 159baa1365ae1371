"""A camera as it runs: its site config with its current calibration record laid over it.

``overlay_record(camera, record)`` is the one place that decides what a record changes. The record
says which fields it sets (``CalibrationRecord.camera_fields_set``):

============================  ==================================================================
record field                  camera field
============================  ==================================================================
``lines``                     ``lines``
``zones``                     ``zones``
``ground_plane``              ``ground_plane``
``exclusion_masks_px``        ``masks`` (pixels of the record's ``image_size_px``)
``sky_mask_px``, ``azimuth``  ``applied_record`` (no config key: fire cameras, bearings)
============================  ==================================================================

A field the record sets replaces the camera's, one it sets to empty (``[]``, null) clears it, and
one it does not set keeps the site config's. A record written before records listed their fields
sets the ones it has values in, so it keeps today's meaning: non-empty lines, zones and masks
replace the config's, a ground plane replaces it when present.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import Field

from carbonedge.calibration.intrinsics import Azimuth, Intrinsics
from carbonedge.calibration.masks import MaskPolygon, SourceMasks
from carbonedge.calibration.record import CalibrationRecord
from carbonedge.runtime.base.model import StrictModel

if TYPE_CHECKING:  # runtime.config imports this module for AppliedRecord
    from carbonedge.runtime.config import CameraConfig, SiteConfig

logger = logging.getLogger(__name__)

__all__ = [
    "AppliedRecord",
    "AzimuthFields",
    "IntrinsicsFields",
    "current_records",
    "overlay_record",
    "source_masks",
]


class AzimuthFields(StrictModel):
    """A record's azimuth calibration (``calibration.intrinsics.Azimuth``)."""

    heading_deg: float = Field(
        description="compass bearing of the image centre (0 = north, clockwise)",
    )
    focal_px: float = Field(description="horizontal focal length")
    cx_px: float = Field(description="x of the principal point")


class IntrinsicsFields(StrictModel):
    """The parts of a record's lens calibration that bearings use (``Intrinsics``)."""

    camera_matrix: tuple[tuple[float, float, float], ...] = Field(
        description="3x3 camera matrix (pixels)",
    )
    dist_coeffs: tuple[float, ...] = Field(description="OpenCV lens distortion coefficients")
    image_size_px: tuple[int, int] = Field(
        description="(width, height) the calibration was made at",
    )


class AppliedRecord(StrictModel):
    """What a camera's calibration record put on it beyond its config keys (``overlay_record``
    fills it; it is never read from a config file).

    Attributes:
        record_id: ``road@v3``, carried by every interval summary.
        image_size_px: (width, height) of the image the record's pixels refer to.
        masks_size_px: (width, height) the camera's ``masks`` were drawn on when they are the
            record's; None when they are the config's (frame pixels).
        sky_mask_px / azimuth / intrinsics: the record's sky polygon and bearing calibration.
    """

    record_id: str = Field(
        description="the record in force (e.g. road@v3), carried by every interval summary",
    )
    image_size_px: tuple[int, int] | None = Field(
        None,
        description="(width, height) of the image the record's pixels refer to",
    )
    masks_size_px: tuple[int, int] | None = Field(
        None,
        description="(width, height) of the image the masks were drawn on",
    )
    sky_mask_px: MaskPolygon | None = Field(
        None,
        description="polygon of the sky (fire monitor), frame pixels",
    )
    azimuth: AzimuthFields | None = Field(
        None,
        description="the record's azimuth calibration (alarm bearings)",
    )
    intrinsics: IntrinsicsFields | None = Field(None, description="the record's lens calibration")


def overlay_record(camera: CameraConfig, record: CalibrationRecord | None) -> CameraConfig:
    """``camera`` with the fields ``record`` sets replaced (see the module docstring); the
    camera itself when ``record`` is None. Pure: nothing is read or logged."""
    if record is None:
        return camera
    if record.kind != "camera" or record.source_id != camera.id:
        raise ValueError(f"{record.record_id} is not a camera record of {camera.id!r}")
    sets = record.camera_fields_set()
    intrinsics: IntrinsicsFields | None = None
    azimuth: AzimuthFields | None = None
    if record.intrinsics is not None:  # the record's validator made sure these load
        lens = Intrinsics.from_dict(record.intrinsics)
        intrinsics = IntrinsicsFields(camera_matrix=lens.camera_matrix.tolist(),
                                      dist_coeffs=lens.dist_coeffs.tolist(),
                                      image_size_px=lens.image_size_px)  # fmt: skip
    if record.azimuth is not None and "azimuth" in sets:
        azimuth = AzimuthFields(**Azimuth.from_dict(record.azimuth).to_dict())
    size = record.image_size_px or (intrinsics.image_size_px if intrinsics else None)
    update: dict[str, object] = {}
    if "lines" in sets:
        update["lines"] = list(record.lines)
    if "zones" in sets:
        update["zones"] = list(record.zones)
    if "ground_plane" in sets:
        update["ground_plane"] = record.ground_plane
    if "exclusion_masks_px" in sets:
        update["masks"] = [list(polygon) for polygon in record.exclusion_masks_px]
    update["applied_record"] = AppliedRecord(
        record_id=record.record_id,
        image_size_px=size,
        masks_size_px=size if "exclusion_masks_px" in sets else None,
        sky_mask_px=record.sky_mask_px if "sky_mask_px" in sets else None,
        azimuth=azimuth,
        intrinsics=intrinsics,
    )  # fmt: skip
    return camera.model_copy(update=update)


def source_masks(camera: CameraConfig) -> SourceMasks:
    """The exclusion masks, sky and bearing of a (overlaid) camera, for its pipeline.

    Raises ``CalibrationInputError`` naming the record for a polygon that cannot be used."""
    applied = camera.applied_record
    if applied is None:
        return SourceMasks(tuple(camera.masks))
    return SourceMasks(
        exclusion_px=tuple(camera.masks),
        exclusion_size_px=applied.masks_size_px,
        sky_px=applied.sky_mask_px,
        azimuth=Azimuth.from_dict(applied.azimuth.model_dump()) if applied.azimuth else None,
        intrinsics=(Intrinsics.from_dict(applied.intrinsics.model_dump())
                    if applied.intrinsics else None),
        image_size_px=applied.image_size_px,
        origin=applied.record_id,
    )  # fmt: skip


def current_records(config: SiteConfig) -> dict[str, CalibrationRecord]:
    """camera/sensor id -> its current (newest verified) record, for the ids of ``config``.

    A bad key fails here (``ConfigError``); a tampered file is logged and skipped."""
    from carbonedge.runtime.calibrate.active import record_store_for

    store = record_store_for(config)
    if store is None:
        return {}
    records = {}
    for target_id in [*config.cameras, *(s.id for s in config.sensors)]:
        record = store.current(target_id)
        if record is not None:
            records[target_id] = record
            logger.info("%s: calibration %s in force", target_id, record.record_id)
    return records
