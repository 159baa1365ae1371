"""FlowField: the axis vehicle tracks move along, per patch of the picture
(vision/flow_field.py)."""

from __future__ import annotations

import math

from carbonedge.vision.flow_field import FlowField


def _drive(field: FlowField, tid: int, x0: float, y0: float, dx: float, dy: float, n: int) -> None:
    for i in range(n):
        field.observe(tid, x0 + i * dx, y0 + i * dy, 20.0)


def test_two_way_traffic_makes_one_axis() -> None:
    field = FlowField((240, 320))
    _drive(field, 1, 10.0, 100.0, 4.0, 0.0, 60)  # rightwards
    _drive(field, 2, 300.0, 104.0, -4.0, 0.0, 60)  # leftwards in the next lane
    steps, coherence, along = field.along(160.0, 102.0, 3.0, 0.0)
    assert steps >= 3 and coherence > 0.99 and along > 0.99  # opposite senses do not cancel
    assert field.along(160.0, 102.0, 0.0, -3.0)[2] < 0.01  # across the road
    assert abs(field.along(160.0, 102.0, 3.0, 3.0)[2] - math.cos(math.pi / 4)) < 0.01


def test_no_steps_where_no_vehicle_drove() -> None:
    field = FlowField((240, 320))
    _drive(field, 1, 10.0, 40.0, 4.0, 0.0, 60)
    assert field.along(160.0, 200.0, 3.0, 0.0) == (0, 0.0, 0.0)


def test_steps_are_scale_free_and_jitter_makes_none() -> None:
    field = FlowField((240, 320), step_heights=0.5)
    for i in range(100):  # a queued car jittering by 2 px (0.1 of its 20 px box)
        field.observe(1, 100.0 + (i % 2) * 2.0, 100.0, 20.0)
    assert field._sum[..., 2].sum() == 0
    _drive(field, 2, 10.0, 100.0, 2.0, 0.0, 30)  # 58 px: 5 steps of 10 px (half of 20)
    assert field._sum[..., 2].sum() == 5


def test_crossing_flows_have_low_coherence() -> None:
    field = FlowField((240, 320))
    _drive(field, 1, 100.0, 60.0, 0.0, 4.0, 30)  # down through a junction
    _drive(field, 2, 40.0, 120.0, 4.0, 0.0, 30)  # and across it
    steps, coherence, _ = field.along(100.0, 120.0, 1.0, 0.0)
    assert steps >= 4 and coherence < 0.5


def test_forget_and_caps() -> None:
    field = FlowField((240, 320), max_tracks=4, max_cell_steps=8.0)
    for tid in range(10):
        field.observe(tid, 0.0, 0.0, 20.0)
    assert len(field._last) == 4
    field.forget(range(10))
    assert not field._last
    _drive(field, 1, 10.0, 100.0, 0.5, 0.0, 400)  # 20 steps in a few cells
    assert field._sum[..., 2].max() < 8.0  # halved at the cap: recent traffic weighs more
