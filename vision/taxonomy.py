"""The road taxonomy (``road-v1``) and the road-scene rules that map a detector's labels into it.

``road-v1``: car, van, bus, hgv (heavy goods vehicle), motorcycle, bicycle, pedestrian (the
classes, what belongs in each and the class groups: README, "Road taxonomy"). Every detector
labels in its own space (COCO-80 for the ONNX backends); ``RoadClasses`` turns one frame's
detections into road-v1 class ids with these rules:

- a label maps by ``LABEL_TO_ROAD`` (COCO ``truck`` -> hgv, ``train`` on a road -> hgv; a label
  with no road meaning, a ``boat`` or a ``refrigerator``, is dropped); labels the map does not know
  (a one-class detector's ``vehicle``, the length classes) pass unchanged;
- a person box that mostly lies on a bicycle or motorcycle box is its rider, not a pedestrian:
  dropped (the two-wheeler carries the count);
- each class has its own minimum score and minimum box height (px): people and two-wheelers are
  small and their false boxes are common, so they need more evidence than a car.

The track's class is then settled by the tracker's vote over its detections, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from carbonedge.runtime.base.types import Detections

__all__ = ["LABEL_TO_ROAD", "ROAD_V1", "RoadClasses", "RoadClassesConfig"]

TAXONOMY = "road-v1"
ROAD_V1: tuple[str, ...] = ("car", "van", "bus", "hgv", "motorcycle", "bicycle", "pedestrian")
GROUP: dict[str, str] = {
    "car": "light", "van": "light", "bus": "heavy", "hgv": "heavy",
    "motorcycle": "two-wheeler", "bicycle": "two-wheeler", "pedestrian": "pedestrian",
}  # fmt: skip
NON_MOTORISED: frozenset[str] = frozenset({"bicycle", "pedestrian"})

#: Detector label -> road-v1 class (None: no road user, dropped). COCO-80 and VOC spellings.
LABEL_TO_ROAD: dict[str, str | None] = {
    "person": "pedestrian", "pedestrian": "pedestrian",
    "bicycle": "bicycle",
    "car": "car", "taxi": "car",
    "van": "van", "minibus": "van",
    "bus": "bus", "coach": "bus",
    "truck": "hgv", "lorry": "hgv", "hgv": "hgv",
    "train": "hgv",  # COCO detectors call a box lorry seen side-on a train; on a road it is one
    "motorcycle": "motorcycle", "motorbike": "motorcycle",
}  # fmt: skip
#: A COCO label that is never a road user is dropped (listed so the drop is on purpose).
_DROPPED = ("airplane", "aeroplane", "boat", "refrigerator")
LABEL_TO_ROAD.update({name: None for name in _DROPPED})

#: Labels that need more evidence than their road class: COCO-trained models put a low-score
#: road-wide "train" box over an empty carriageway (seen with DEIMv2 and PicoDet up to 0.61).
LABEL_MIN_SCORE: dict[str, float] = {"train": 0.65}

#: What the detector should look for to feed road-v1 (COCO names).
ROAD_LABELS: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "train", "truck")


class RoadClassesConfig(BaseModel):
    """``road_classes:`` of a camera: the taxonomy its counts use and the per-class evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    taxonomy: Literal["road-v1", "detector"] = Field(
        "road-v1", description="road-v1, or 'detector': keep the detector's own labels"
    )
    min_score: dict[str, float] = Field(
        default_factory=lambda: {"pedestrian": 0.3, "bicycle": 0.3, "motorcycle": 0.3},
        description="road class -> lowest detection score counted (others: the detector's)",
    )
    min_height_px: dict[str, float] = Field(
        default_factory=lambda: {"pedestrian": 12.0, "bicycle": 10.0, "motorcycle": 8.0},
        description="road class -> smallest box height in px (others: none)",
    )
    rider_overlap: float = Field(
        0.5, ge=0.0, le=1.0,
        description="a person whose box lies this much (share of its area) on a two-wheeler's "
        "box is its rider: one two-wheeler box (the union) with the higher of the two scores",
    )  # fmt: skip
    rider_speed_heights_per_s: float | None = Field(
        2.5, gt=0.0,
        description="a pedestrian track moving this fast (its own box heights per second; "
        "walkers measured 0.5-2.1) is a rider, counted as rider_class (vision/riders.py); "
        "None: no rider tracks at all",
    )  # fmt: skip
    rider_squat_max_aspect: float = Field(
        1.6, gt=0.0,
        description="a pedestrian track whose box height/width (median) is at most this "
        "(walkers measured 2.5-3.8) is a rider already at rider_squat_speed_heights_per_s",
    )  # fmt: skip
    rider_squat_speed_heights_per_s: float = Field(
        1.3, gt=0.0,
        description="the speed (box heights/s) at which a squat pedestrian track is a rider",
    )  # fmt: skip
    rider_flow_speed_heights_per_s: float | None = Field(
        0.5, gt=0.0,
        description="a pedestrian track moving at least this fast (box heights/s) along the "
        "axis vehicle tracks moved along in the same patch of the picture is a rider "
        "(vision/flow_field.py; riders seen head-on in a queue); None: no flow rule",
    )  # fmt: skip
    rider_class: Literal["motorcycle", "bicycle"] = Field(
        "motorcycle", description="what a fast pedestrian track (a rider) is counted as"
    )
    size_classes: bool = Field(
        True,
        description="class tracks by their height in the scene's own car heights (stage "
        "size_classes, vision/size_classes.py): a car-sized bus/hgv is a car or van, a lorry-sized "
        "car/van an hgv, an unclassed motion track of a car's size a car",
    )
    light_max_car_heights: float = Field(
        1.5, gt=0.0,
        description="a bus/hgv track at most this many car heights tall is light: a car under "
        "1.3 (SUVs, pickups 1.2-1.3), a van from 1.3 (vans up to 1.7; buses and lorries 2.0 "
        "and more)",
    )  # fmt: skip
    heavy_min_car_heights: float = Field(
        2.0, gt=0.0,
        description="a car/van track at least this many car heights tall is an hgv",
    )  # fmt: skip

    @model_validator(mode="after")
    def _size_order(self) -> RoadClassesConfig:
        if self.light_max_car_heights >= self.heavy_min_car_heights:
            raise ValueError(
                f"light_max_car_heights ({self.light_max_car_heights}) must be under "
                f"heavy_min_car_heights ({self.heavy_min_car_heights})"
            )
        return self


@dataclass
class RoadClasses:
    """Maps one detector's detections into road-v1 (see the module docstring)."""

    config: RoadClassesConfig
    detector_names: tuple[str, ...]
    taxonomy: str = TAXONOMY
    #: The tracker's new-track score: a class whose ``min_score`` is lower has its scores
    #: stretched so that its minimum lands here (None: scores unchanged).
    track_start_score: float | None = None

    def __post_init__(self) -> None:
        names = list(ROAD_V1)
        to_road = np.full(len(self.detector_names), -1, np.int32)
        for i, label in enumerate(self.detector_names):
            if label in LABEL_TO_ROAD:
                road = LABEL_TO_ROAD[label]
                to_road[i] = -1 if road is None else ROAD_V1.index(road)
            else:  # a label the map does not know passes unchanged
                if label not in names:
                    names.append(label)
                to_road[i] = names.index(label)
        self.class_names: tuple[str, ...] = tuple(names)
        self._to_road = to_road
        self._min_score = np.array([self.config.min_score.get(n, 0.0) for n in names], np.float32)
        # per detector label: the road class's minimum, or the label's own where it is higher
        self._label_min_score = np.array(
            [max(LABEL_MIN_SCORE.get(label, 0.0),
                 float(self._min_score[to_road[i]]) if to_road[i] >= 0 else 0.0)
             for i, label in enumerate(self.detector_names)], np.float32)  # fmt: skip
        self._min_h = np.array([self.config.min_height_px.get(n, 0.0) for n in names], np.float32)
        start = self.track_start_score
        self._stretch = np.array(
            [start is not None and n in self.config.min_score and self._min_score[i] < start
             for i, n in enumerate(names)], np.bool_)  # fmt: skip
        self._person = ROAD_V1.index("pedestrian")
        self._two_wheel = np.array([ROAD_V1.index("bicycle"), ROAD_V1.index("motorcycle")])
        # The same tables per detector label, so a frame indexes them by its class ids only.
        road = self._label_road = to_road >= 0
        safe = np.maximum(to_road, 0)
        self._label_min_h = np.where(road, self._min_h[safe], np.inf).astype(np.float32)
        self._label_stretch = road & self._stretch[safe]
        self._label_person = road & (to_road == self._person)
        self._label_wheel = road & np.isin(to_road, self._two_wheel)

    def __call__(self, detections: Detections) -> Detections:
        if len(detections) == 0:
            return detections
        # Per frame only a few boxes: every test is one lookup by label (tables built above).
        label, xyxy, score = detections.class_id, detections.xyxy, detections.confidence
        keep = self._label_road[label] & (score >= self._label_min_score[label])
        keep &= (xyxy[:, 3] - xyxy[:, 1]) >= self._label_min_h[label]
        cls = self._to_road[label]
        if (keep & self._label_person[label]).any() and (keep & self._label_wheel[label]).any():
            xyxy, score = xyxy.copy(), score.copy()  # riders folded into their wheels: edited
            keep &= ~self._fold_riders(xyxy, score, cls, keep)
        rows = np.flatnonzero(keep)
        out_xyxy, out_score = xyxy[rows], score[rows]  # copies (the detect stage keeps its own)
        at = np.flatnonzero(self._label_stretch[label[rows]])
        if len(at):  # [min_score, 1] -> [track_start_score, 1]: a class's own threshold
            low, start = self._min_score[cls[rows[at]]], float(self.track_start_score)  # type: ignore[arg-type]
            out_score[at] = start + (out_score[at] - low) * (1.0 - start) / (1.0 - low)
        data = {name: column[rows] for name, column in detections.data.items()}
        return Detections(out_xyxy, out_score, cls[rows], detections.tracker_id[rows],
                          detections.source_row[rows], data)  # fmt: skip

    def _fold_riders(
        self, xyxy: np.ndarray, score: np.ndarray, cls: np.ndarray, keep: np.ndarray
    ) -> np.ndarray:
        """Person rows whose box lies ``rider_overlap`` of its area on a kept two-wheeler box:
        its rider. Each such two-wheeler takes the union of its box and its rider's, and the
        higher score of the two (in place); the rider rows are returned to be dropped."""
        riders = np.zeros(len(cls), np.bool_)
        people = np.flatnonzero((cls == self._person) & keep)
        wheels = np.flatnonzero(np.isin(cls, self._two_wheel) & keep)
        if not len(people) or not len(wheels):
            return riders
        p, w = xyxy[people][:, None, :], xyxy[wheels][None, :, :]
        iw = np.clip(np.minimum(p[..., 2], w[..., 2]) - np.maximum(p[..., 0], w[..., 0]), 0, None)
        ih = np.clip(np.minimum(p[..., 3], w[..., 3]) - np.maximum(p[..., 1], w[..., 1]), 0, None)
        area = np.maximum((p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1]), 1e-6)
        share = (iw * ih) / area
        on_wheel = share >= self.config.rider_overlap  # (people, wheels)
        riders[people] = on_wheel.any(axis=1)
        for i in np.flatnonzero(on_wheel.any(axis=1)):  # the rider's wheel: most overlap
            person, wheel = people[i], wheels[int(np.argmax(share[i]))]
            xyxy[wheel, :2] = np.minimum(xyxy[wheel, :2], xyxy[person, :2])
            xyxy[wheel, 2:] = np.maximum(xyxy[wheel, 2:], xyxy[person, 2:])
            score[wheel] = max(score[wheel], score[person])
        return riders


def road_class_names(detector_names: Sequence[str]) -> tuple[str, ...]:
    """The class names a camera's counts carry once its detector's labels are mapped."""
    return RoadClasses(RoadClassesConfig(), tuple(detector_names)).class_names
