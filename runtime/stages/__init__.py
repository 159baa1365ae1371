"""The built-in pipeline stages, one file each, and the order a camera's pipeline runs them in.

A camera's pipeline is ``build_stages(camera, context)``: every stage of ``STAGE_ORDER`` whose
``build`` says the camera's config asks for it. Adding an analytic is one new file here (a
``Stage`` subclass with ``@register_stage``, and its summary section registered next to it) plus
one line in ``STAGE_ORDER`` (its name; see ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
from typing import Any

from carbonedge.runtime.base.stage import STAGES, Stage, StageContext
from carbonedge.runtime.stages.traffic import counts_traffic

#: The order of a camera's stages, one name each; the stage ``x`` lives in ``stages/x.py``.
#: A frame goes through them top to bottom; so do the interval's sections when it closes
#: (emissions reads the traffic the analytics closed before it).
STAGE_ORDER: tuple[str, ...] = (
    "camera_moved",  # view vs calibration snapshot: calibration_valid
    "fire",  # fire/smoke monitor: alarms, fire
    "light_profile",  # day/dusk/night/glare/fog from frame statistics: the detector profile
    "motion_gate",  # nothing moved: the detector may skip this frame
    "roi",  # the part of the frame the detector looks at
    "zoom",  # windows around the lines where road users are small, detected at a higher zoom
    "detect",  # the shared detector (or the last detections on a gated frame)
    "exclusion",  # drop detections in the exclusion masks
    "road_classes",  # detector labels -> road-v1 (riders folded in, per-class evidence)
    "length_classes",  # a one-class detector's boxes classed by length in metres
    "track",  # ByteTrack ids; ended tracks
    "riders",  # a pedestrian track at vehicle speed is a two-wheeler's rider
    "size_classes",  # a track's height in the scene's car heights: light or heavy
    "analytics",  # speeds, lines, zones, movements: line_speeds, traffic, zones, movements
    "loops",  # virtual loops: small road users crossing a line where no track was
    "modal_split",  # road users by travel mode: modal_split
    "annotate",  # an annotated MP4 when the camera asks for one (annotate_path)
    "emissions",  # traffic -> grams: emissions
)

# Importing each stage's module registers the stage and its summary sections.
for _name in STAGE_ORDER:
    importlib.import_module(f"{__name__}.{_name}")


def build_stages(
    camera: Any, context: StageContext, order: tuple[str, ...] = STAGE_ORDER
) -> list[Stage]:
    """The stages ``camera`` asks for, in pipeline order."""
    stages = []
    traffic = counts_traffic(camera)
    for name in order:
        cls = STAGES.get(name)
        if cls.vehicles and not traffic:
            continue
        stage = cls.build(camera, context)
        if stage is not None:
            stages.append(stage)
    return stages


def load_all() -> None:
    """Import every built-in section owner (stages and the sensor summaries), so the section
    registry is complete (the uplink's schema and compaction read it)."""
    import carbonedge.runtime.sensor_stage  # noqa: F401
