"""Settings of the fire/smoke monitor (pydantic v2, ``extra="forbid"``), one model per part.

Times are in seconds so that the same config works at a tower camera's cadence (one frame every
10-60 s) and at video rate; the background rates are derived from the time between frames.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from carbonedge.vision.detectors.ultralytics import UltralyticsConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PixelDetectorConfig(_Strict):
    """Weight-free candidates: smoke from brightening against a slow background, flame colour."""

    type: Literal["pixels"] = "pixels"
    work_width_px: int = Field(640, ge=64, le=4096, description="frames are downscaled to this")
    band_width_px: int = Field(
        1536, ge=64, le=8192,
        description="the horizon band is processed this wide at most (full resolution up to it; "
        "wider frames by a whole-number factor: 2048 and 3072 px at 1024 and 1536)",
    )  # fmt: skip
    band_min_area_px: int = Field(12, ge=1, description="smallest candidate in the band, its px")
    blur_sigma_px: float = Field(1.5, ge=0, le=10, description="Gaussian blur at work scale")
    background_tau_s: float = Field(
        300.0, gt=0, description="time constant of the background (0.18 per frame at 1/min)"
    )
    candidate_rate_ratio: float = Field(
        0.33, ge=0, le=1, description="background rate under candidates, relative to the normal"
    )
    noise_tau_s: float = Field(570.0, gt=0, description="time constant of the noise variance")
    threshold_levels: float = Field(4.0, ge=0, le=255, description="fixed brightening threshold")
    darker_smoke: bool = Field(
        True, description="pixels turning darker are smoke candidates too (smoke on bright haze)"
    )
    min_polarity_frac: float = Field(
        0.75, ge=0.5, le=1,
        description="a smoke candidate's pixels change one way (brighter or darker) this much",
    )  # fmt: skip
    smoke_min_luma_frac: float = Field(
        0.35, ge=0, le=1, description="a smoke candidate's mean luma x the view's bright level"
    )
    k_sigma: float = Field(2.0, ge=0, le=20, description="plus this many noise std deviations")
    noise_floor_levels: float = Field(2.0, ge=0, le=50, description="initial noise std")
    shake_px: float = Field(1.0, ge=0, le=5, description="initial noise: this x local gradient")
    min_area_px: int = Field(8, ge=1, description="smallest candidate, pixels at work scale")
    max_candidate_frac: float = Field(
        0.15, gt=0, le=1, description="more of a view changed at once: global change, no boxes"
    )
    register_shake: bool = Field(True, description="undo camera shake by phase correlation")
    flame_min_red: float = Field(
        150.0,
        ge=0,
        le=255,
        description="a flame pixel's red channel is at least this (0-255)",
    )
    flame_min_cr_minus_cb: float = Field(
        40.0,
        ge=0,
        le=255,
        description="a flame pixel's Cr - Cb is at least this (0-255)",
    )
    flame_flicker_min: float = Field(
        1.5, ge=0, description="flicker score a flame pixel needs at video rate"
    )
    video_rate_max_dt_s: float = Field(
        1.0, gt=0, description="frames closer than this count as video rate (flicker usable)"
    )
    local_gain_cell_frac: float = Field(
        0.1, ge=0.01, le=1,
        description="light changes over areas wider than this (x width) are divided out",
    )  # fmt: skip
    glare_halo_frac: float = Field(
        0.03, ge=0, le=1, description="no smoke within this (x width) of clipped pixels (glare)"
    )
    night_luma_max: float = Field(35.0, ge=0, le=255, description="darker mean luma is night")
    night_hysteresis_levels: float = Field(
        10.0, ge=0, le=255, description="night ends only this much above night_luma_max"
    )
    night_glow_ratio: float = Field(
        4.0, ge=1, description="and brighter than this x the night frame's mean luma"
    )
    night_flame_luma: float = Field(
        40.0,
        ge=0,
        le=255,
        description="at night, new light brighter than this (blurred luma) is flame",
    )
    grey_chroma_max: float = Field(3.0, ge=0, le=255, description="less mean chroma: IR/grey")


class ModelDetectorConfig(UltralyticsConfig):
    """A learned fire/smoke detector (Ultralytics YOLOv8/YOLO11 ONNX, classes from metadata)."""

    score_threshold: float = Field(
        0.25,
        gt=0,
        le=1,
        description="detections below this confidence are dropped",
    )
    roi: Literal["auto"] | tuple[int, int, int, int] | None = Field(
        None,
        description="detect only inside [x0, y0, x1, y1] full-frame px; None: the whole frame "
        "(a lookout has no lines or zones for 'auto')",
    )
    smoke_classes: tuple[str, ...] = Field(("smoke",), description="model classes meaning smoke")
    fire_classes: tuple[str, ...] = Field(("fire", "flame"), description="classes meaning fire")


DetectorChoice = Annotated[
    Union[PixelDetectorConfig, ModelDetectorConfig], Field(discriminator="type")
]


class SceneConfig(_Strict):
    """Where smoke may start: automatic sky/horizon, technician masks, azimuth calibration."""

    auto_sky: bool = Field(True, description="estimate the sky/horizon from the frames")
    sky_mask_path: str | None = Field(
        None, description="image, non-zero = sky (technician's mask; replaces the automatic one)"
    )
    exclusion_mask_paths: tuple[str, ...] = Field(
        (), description="images, non-zero = ignore (chimneys, roads, the camera's own mast)"
    )
    horizon_margin_frac: float = Field(
        0.03, ge=0, le=0.5, description="smoke may start this far (x height) above the horizon"
    )
    band_above_frac: float = Field(
        0.06, ge=0, le=1, description="horizon band: this far (x height) above the horizon"
    )
    band_below_frac: float = Field(0.15, ge=0, le=1, description="and this far below it")
    band_max_frac: float = Field(0.35, gt=0, le=1, description="band height at most (x height)")
    border_frac: float = Field(0.01, ge=0, le=0.2, description="ignored frame border")
    azimuth_center_deg: float | None = Field(
        None, ge=0, lt=360, description="bearing of the image centre column (calibration)"
    )
    hfov_deg: float | None = Field(None, gt=0, le=360, description="horizontal field of view")


class ConfirmConfig(_Strict):
    """Persistence with hysteresis, smoke growth, cooldown."""

    window_frames: int = Field(4, ge=1, le=100, description="vote window (Pyronear-style)")
    votes_to_start: int = Field(3, ge=1, le=100, description="hits in the window to alarm")
    votes_to_keep: int = Field(1, ge=1, le=100, description="hits in the window while alarming")
    smoke_min_duration_s: float = Field(90.0, ge=0, description="a track this old at least")
    fire_min_duration_s: float = Field(2.0, ge=0, description="at video rate (flicker seen)")
    video_rate_max_dt_s: float = Field(
        1.0, gt=0, description="frames closer than this are video rate; slower: fire as smoke"
    )
    smoke_growth_ratio: float = Field(
        2.0, ge=1, description="area now / area window_frames hits ago (or its top rises)"
    )
    smoke_growth_required: bool = Field(
        True, description="also the area growth above (else rising is enough)"
    )
    smoke_min_growth_frac: float = Field(
        0.0003, ge=0, le=1, description="and the area grew by at least this x frame area"
    )
    smoke_rise_frac: float = Field(
        0.005, ge=0, le=1, description="its top must rise this much (x frame height)"
    )
    activity_tau_s: float = Field(
        1800.0, gt=0, description="memory of where candidates keep appearing (clouds, trees)"
    )
    smoke_max_prior_activity: float = Field(
        0.05, ge=0, le=1,
        description="smoke may not start where (or beside where) candidates appeared in this "
        "share of frames",
    )  # fmt: skip
    smoke_min_fill_frac: float = Field(
        0.25, ge=0, le=1, description="a plume's parts cover this share of its merged box"
    )
    anchor_tolerance_frac: float = Field(
        0.01, ge=0, le=1, description="a plume's base moves at most this (x height) while it grows"
    )
    spread_ratio_max: float = Field(
        2.5, ge=0, description="a young plume's width grows at most this x its height's growth"
    )
    merge_gap_frac: float = Field(
        0.01, ge=0, le=1, description="boxes of one frame this close (x width) are one region"
    )
    match_gap_frac: float = Field(
        0.03, ge=0, le=1, description="a region this close (x width) to a track continues it"
    )
    end_after_s: float = Field(600.0, gt=0, description="alarm ends after this long unseen")
    update_interval_s: float = Field(60.0, ge=0, description="at most one update per this")
    cooldown_s: float = Field(1800.0, ge=0, description="no new alarm this long after an end")
    max_tracks: int = Field(64, ge=1, le=10_000, description="per camera (bounded memory)")


class EvidenceConfig(_Strict):
    """JPEG evidence written on the box for alarm starts and updates."""

    dir: str | None = Field(None, description="folder for JPEGs; None: no evidence written")
    full_max_width_px: int = Field(
        960,
        ge=64,
        le=8192,
        description="the full-frame evidence JPEG is scaled down to this width",
    )
    crop_min_px: int = Field(
        96,
        ge=16,
        le=4096,
        description="smallest side of the crop around the main box",
    )
    jpeg_quality: int = Field(
        85,
        ge=10,
        le=100,
        description="JPEG quality of the evidence images (10-100)",
    )


class FireMonitorConfig(_Strict):
    """Everything the fire/smoke monitor needs; one per site (cameras keep separate state)."""

    detector: DetectorChoice = Field(
        default_factory=PixelDetectorConfig,
        description="where candidates come from, chosen by type: (pixels or ultralytics)",
    )
    scene: SceneConfig = Field(
        default_factory=SceneConfig,
        description="scene settings (sky, distance, day and night)",
    )
    confirm: ConfirmConfig = Field(
        default_factory=ConfirmConfig,
        description="how candidates become an alarm",
    )
    evidence: EvidenceConfig = Field(
        default_factory=EvidenceConfig,
        description="JPEG evidence of alarms",
    )
