"""A calibration record's exclusion masks, sky mask and azimuth reach the runtime.

Traffic: detections anchored in an exclusion mask are dropped before tracking, so a mask over one
lane of the synthetic scene removes exactly that lane's crossings (site YAML masks, and a record's
masks replacing them). Fire: a record's exclusion or sky polygon suppresses a growing plume there,
and the alarm's bearing comes from the record's azimuth rather than the YAML's linear hfov.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_detections

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.intrinsics import Azimuth
from carbonedge.calibration.masks import ExclusionFilter, SourceMasks, lookup, rasterize
from carbonedge.calibration.record import CalibrationRecord, RecordStore
from carbonedge.devices.sources._synthetic_geometry import LANE_WIDTH_M
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.site import Site

KEY = "record-masks-key-0123456789"
DURATION_S, SEED = 20.0, 7
SCENE = SyntheticSceneConfig(id="road", duration_s=DURATION_S, seed=SEED)
TRUTH = SyntheticScene(SCENE).ground_truth
DIRECTION = {"down": "in", "up": "out"}  # the line is drawn left to right across the road


def lane_polygon(direction: str, lane: int) -> list[list[float]]:
    """Image polygon (px) of one whole lane of the synthetic road, from its exact homography."""
    sign = -1.0 if direction == "down" else 1.0
    x0, x1 = sign * (lane * LANE_WIDTH_M + 0.2), sign * ((lane + 1) * LANE_WIDTH_M - 0.2)
    world = np.array([[x0, 2.0, 1.0], [x1, 2.0, 1.0], [x1, 150.0, 1.0], [x0, 150.0, 1.0]])
    image = world @ np.asarray(TRUTH.homography_world_to_image).T
    return (image[:, :2] / image[:, 2:]).tolist()


def truth_counts(masked: tuple[str, int] | None = None) -> dict[str, int]:
    """Line crossings per counted direction, without those of the ``masked`` lane."""
    counts = Counter({"in": 0, "out": 0})
    for vehicle_id, _, _ in TRUTH.crossings():
        v = TRUTH.vehicles[vehicle_id]
        if (v.direction, v.lane) != masked:
            counts[DIRECTION[v.direction]] += 1
    return dict(counts)


def traffic_site(tmp_path: Path, name: str, masks: list | None = None, **extra) -> dict:
    (start, end) = TRUTH.counting_line_px
    road = {"source": {"type": "synthetic", "duration_s": DURATION_S, "seed": SEED},
            "lines": [{"id": "l", "start_px": list(start), "end_px": list(end)}]}  # fmt: skip
    if masks is not None:
        road["masks"] = masks
    return {
        "device_id": "box-m",
        "cameras": {"road": road},
        "detector": {"type": "motion"},
        "summary": {"interval_s": 60},
        "output": {"sqlite_path": str(tmp_path / f"{name}.sqlite"), "jsonl_path": None},
        **extra,
    }


def counted(site: dict) -> dict[str, int]:
    (result,) = Site(parse_site_config(site)).run()
    assert result.error is None
    return {d: sum(by_class.values()) for d, by_class in result.line_counts["l"].items()}


def test_an_exclusion_mask_over_one_lane_removes_exactly_its_crossings(tmp_path: Path) -> None:
    down0, up1 = ("down", 0), ("up", 1)
    assert truth_counts(down0) != truth_counts() != truth_counts(up1)  # both lanes have traffic

    # No mask: every crossing counts.
    assert counted(traffic_site(tmp_path, "plain")) == truth_counts()

    # Site YAML mask over the first down lane: its crossings, and only those, are gone.
    yaml_masks = [lane_polygon(*down0)]
    site = traffic_site(tmp_path, "yaml", masks=yaml_masks)
    assert counted(site) == truth_counts(down0)

    # A record's mask (over the outer up lane) replaces the YAML one, as its lines/zones would.
    store = RecordStore(tmp_path / "records", KEY.encode())
    store.save(CalibrationRecord(source_id="road", image_size_px=(640, 360),
                                 exclusion_masks_px=[lane_polygon(*up1)]))  # fmt: skip
    calibration = {"records_dir": str(tmp_path / "records"), "key": KEY}
    site = traffic_site(tmp_path, "record", masks=yaml_masks, calibration=calibration)
    assert counted(site) == truth_counts(up1)


# --- fire: the record's sky mask, exclusion masks and azimuth ------------------------------------

W, H = 320, 240


def plume_sequence(folder: Path) -> None:
    """12 frames one minute apart, sky above row 100; from the 6th a grey plume grows from the
    ground at columns ~140-170 (as tests/vision/fire/test_fire_cli.py)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    terrain = np.repeat(rng.integers(40, 90, (H - 100, W // 4), dtype=np.uint8), 4, axis=1)
    for k in range(12):
        image = np.empty((H, W, 3), np.uint8)
        image[:100] = (220, 170, 120)
        image[100:] = np.stack([terrain // 2, terrain, terrain], axis=2)
        if k >= 5:
            g = k - 4
            image[200 - 10 * g : 200, 150 - 2 * g : 160 + 2 * g] = (170, 170, 170)
        cv2.imwrite(str(folder / f"tower_2020_06_11T20_{k:02d}_00.png"), image)


def area(xyxy: list[float]) -> float:
    return (xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1])


def fire_alarms(tmp_path: Path, name: str, frames: Path) -> list[dict]:
    """Run a site with one fire-only tower camera and the current record; its alarm bodies."""
    tower = {"type": "image_folder", "path": str(frames), "time_from": "name", "settle_s": 0}
    site = {
        "device_id": "box-f",
        # the linear hfov model the record's azimuth must win over
        "cameras": {
            "tower": {
                "source": tower,
                "fire": {"scene": {"azimuth_center_deg": 10.0, "hfov_deg": 50.0}},
            }
        },
        "detector": {"type": "motion"},
        "summary": {"interval_s": 3600},
        "output": {"sqlite_path": str(tmp_path / f"{name}.sqlite"), "jsonl_path": None},
        "calibration": {"records_dir": str(tmp_path / "records"), "key": KEY},
    }
    (result,) = Site(parse_site_config(site)).run()
    assert result.error is None and result.frames == 12
    with sqlite3.connect(tmp_path / f"{name}.sqlite") as db:
        rows = db.execute("SELECT body FROM events WHERE kind = 'fire_alarm' ORDER BY t_wall")
        return [json.loads(body) for (body,) in rows]


def test_record_masks_suppress_fire_candidates_and_its_azimuth_gives_the_bearing(
    tmp_path: Path,
) -> None:
    frames = tmp_path / "frames"
    plume_sequence(frames)
    store = RecordStore(tmp_path / "records", KEY.encode())
    # drawn on a snapshot twice the frame size: polygons and columns are scaled to the frames
    azimuth = Azimuth.from_hfov(heading_deg=200.0, hfov_deg=70.0, width_px=2 * W)
    base = {"source_id": "tower", "image_size_px": (2 * W, 2 * H), "azimuth": azimuth.to_dict()}

    # v1: azimuth only. The plume alarms, with the record's per-column bearing.
    store.save(CalibrationRecord(**base))
    alarms = fire_alarms(tmp_path, "v1", frames)
    assert alarms and alarms[0]["status"] == "start"
    for alarm in alarms:
        x1, _, x2, _ = max(alarm["boxes"], key=lambda b: area(b["xyxy"]))["xyxy"]
        expected = azimuth.azimuth_deg(x1 + x2)  # frame px x 2 = record px, box centre
        assert alarm["bearing_deg"] == pytest.approx(expected, abs=0.01)
        linear = (10.0 + ((x1 + x2) / 2 / W - 0.5) * 50.0) % 360
        assert abs(alarm["bearing_deg"] - linear) > 90  # not the YAML's linear model

    # v2: an exclusion polygon around the plume (a chimney the technician masked): no alarm.
    chimney = [[260, 280], [380, 280], [380, 420], [260, 420]]  # record px (x 2)
    store.save(CalibrationRecord(**base, exclusion_masks_px=[chimney]))
    assert fire_alarms(tmp_path, "v2", frames) == []

    # v3: the technician's sky polygon reaches below the plume's base: it starts in the sky.
    sky = [[0, 0], [2 * W, 0], [2 * W, 430], [0, 430]]
    store.save(CalibrationRecord(**base, sky_mask_px=sky))
    assert fire_alarms(tmp_path, "v3", frames) == []


# --- the mask raster itself ---------------------------------------------------------------------


def test_raster_scales_to_the_frame_and_lookup_is_per_anchor() -> None:
    square = [[100, 100], [200, 100], [200, 200], [100, 200]]  # drawn on a 400x400 snapshot
    mask = rasterize([square], (200, 200), (400, 400))
    assert mask.shape == (200, 200) and mask[75, 75] and not mask[45, 45] and not mask[110, 110]
    assert 50 * 50 <= mask.sum() <= 51 * 51  # 50 px square in the frame, boundary included
    points = np.array([[75.5, 75.5], [10.0, 10.0], [99.9, 60.0], [75.0, 250.0]])
    assert lookup(mask, points).tolist() == [True, False, True, False]

    masks = SourceMasks((square,), exclusion_size_px=(400, 400))
    boxes = make_detections([[60, 40, 90, 80], [0, 0, 20, 20], [60, 60, 90, 130]])
    kept = ExclusionFilter(masks).keep(boxes, (200, 200))  # bottom-centre (75, 130) is outside
    assert kept.source_row.tolist() == [1, 2]
    assert ExclusionFilter(masks, "center").keep(boxes, (200, 200)).source_row.tolist() == [1]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([[0, 0], [10, 0]], "cameras.road.masks.0: List should have at least 3 items"),
        ([[0, 0], [10, 0], [5, float("nan")]], "cameras.road.masks.0.2.1: Input should be a "
         "finite number"),
    ],
)  # fmt: skip
def test_bad_yaml_masks_name_the_key(polygon: list, message: str) -> None:
    site = {"device_id": "b", "detector": {"type": "motion"},
            "cameras": {"road": {"source": {"type": "synthetic"}, "masks": [polygon]}}}  # fmt: skip
    with pytest.raises(ConfigError, match="site.yaml: " + message.replace(".", r"\.")):
        parse_site_config(site, origin="site.yaml")


def test_bad_record_polygons_are_refused() -> None:
    with pytest.raises(CalibrationInputError, match=r"road@v4: exclusion_masks_px\[0\]: .*finite"):
        SourceMasks(([[0, 0], [5, 0], [5, float("inf")]],), origin="road@v4")
    with pytest.raises(CalibrationInputError, match=r"road@v4: sky_mask_px: .*3 \[x, y\]"):
        SourceMasks(sky_px=[[0, 0], [5, 0]], origin="road@v4")
    with pytest.raises(CalibrationInputError, match=r"mask\[1\]: .*finite"):
        rasterize([[[0, 0], [5, 0], [5, 5]], [[0, 0], [5, 0], [5, float("nan")]]], (10, 10))
