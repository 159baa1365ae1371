"""The full analytics pipeline on the synthetic scene: zones, movements, speeds and emissions in
the summaries, valid against the uplink schema, and mergeable by outbox compaction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.audit_traffic import TRUTH_TO_LINE_DIRECTION
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.uplink.compact import merge_summaries
from carbonedge.runtime.uplink.schema import validate_body
from carbonedge.vision.analytics.zones import ZoneConfig
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

# the synthetic road (640 x 360): 'far' is a band across the road near the top of the view,
# 'near' one near the bottom; both are entries and exits (traffic runs both ways)
FAR = ZoneConfig(id="far", polygon_px=((0, 120), (640, 120), (640, 170), (0, 170)), movement="both")
NEAR = ZoneConfig(id="near", polygon_px=((0, 280), (640, 280), (640, 340), (0, 340)),
                  movement="both")  # fmt: skip


@pytest.fixture(scope="module")
def run():
    scene = SyntheticScene(SyntheticSceneConfig(id="road", duration_s=60.0, seed=7))
    gt = scene.ground_truth
    (x1, y1), (x2, y2) = gt.counting_line_px
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=MotionDetector(MotionDetectorConfig()),
        camera=CameraPlan(
            tracker=ByteTrackConfig(),
            lines=[LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2))],
            zones=[FAR, NEAR],
            ground_plane=GroundPlaneConfig(
                image_to_world=np.linalg.inv(gt.homography_world_to_image).tolist()
            ),
            emissions=EmissionsConfig(),
        ),
        interval_s=15.0,
    )
    result = pipeline.run()
    return gt, [s.to_dict() for s in result.summaries]


def test_every_summary_has_every_section_and_matches_the_schema(run) -> None:
    _, summaries = run
    assert len(summaries) == 4
    for body in summaries:
        validate_body("interval_summary", body)
        assert {"line_speeds", "traffic", "zones", "movements", "emissions"} <= set(body)
        # every section (the light profile's included), two zones, five classes: ~2.4 KB (a
        # counts-only summary is ~0.8 KB)
        assert len(json.dumps(body, separators=(",", ":"))) < 2500


def test_movements_follow_the_traffic_direction(run) -> None:
    gt, summaries = run
    moves: dict[str, int] = {}
    for body in summaries:
        for key, per_class in body["movements"]["counts"].items():
            moves[key] = moves.get(key, 0) + sum(per_class.values())
    assert set(moves) <= {"far->near", "near->far"}  # nobody turns on a straight road
    crossing = {"in": 0, "out": 0}
    for _, direction, _ in gt.crossings():
        crossing[TRUTH_TO_LINE_DIRECTION[direction]] += 1
    # down the image is far -> near; a vehicle still between the zones at the end is not counted
    assert crossing["in"] - 3 <= moves.get("far->near", 0) <= crossing["in"]
    assert crossing["out"] - 3 <= moves.get("near->far", 0) <= crossing["out"]


def test_traffic_and_emissions_add_up(run) -> None:
    _, summaries = run
    for body in summaries:
        traffic, em = body["traffic"], body["emissions"]
        assert em["total"]["vehicles"] == sum(t["vehicles"] for t in traffic.values())
        km = sum(t["distance_km"] for t in traffic.values())
        assert em["total"]["km"] == pytest.approx(km, rel=1e-3)
        for name, t in traffic.items():  # speeds in a sane band for 20-70 km/h traffic
            assert 15 < t["mean_speed_kmh"] < 80, name
        lo, value, hi = (em["total"]["co2_g"][i] for i in (1, 0, 2))
        assert 0 < lo < value < hi


def test_compaction_merges_every_section_exactly_where_it_can(run) -> None:
    _, summaries = run
    merged = summaries[0]
    for body in summaries[1:]:
        merged = merge_summaries(merged, body)
    validate_body("interval_summary", merged)
    assert merged["compacted"]["intervals"] == 4
    for name in merged["traffic"]:
        parts = [b["traffic"][name] for b in summaries if name in b["traffic"]]
        assert merged["traffic"][name]["vehicles"] == sum(p["vehicles"] for p in parts)
        assert merged["traffic"][name]["distance_km"] == pytest.approx(
            sum(p["distance_km"] for p in parts), abs=1e-3)  # fmt: skip
    entered = sum(b["zones"]["near"]["entered"] for b in summaries)
    assert merged["zones"]["near"]["entered"] == entered
    co2 = sum(b["emissions"]["total"]["co2_g"][0] for b in summaries)
    assert merged["emissions"]["total"]["co2_g"][0] == pytest.approx(co2, rel=1e-3)
