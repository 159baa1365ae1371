"""Virtual loops on synthetic roads: a small car crossing a line is one crossing with the right
direction and frame; what the line counter saw, a road user too large for a loop, a flicker and a
car still on the line are not; a car during the first background's warm-up counts too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_frame

from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.counting.loops import LoopsConfig, VirtualLoop

FPS = 30.0
H, W = 120, 160
LINE = LineConfig(id="L", start_px=(0.0, 60.0), end_px=(160.0, 60.0))  # right side: below


def road(t: int, cars: list[tuple[float, float, int, int]]) -> np.ndarray:
    """Grey road with dark cars (x, y of the top-left corner at frame t, vx, vy px/frame)."""
    image = np.full((H, W, 3), (110, 112, 108), np.uint8)
    for x0, y0, vx, vy in cars:
        x, y = round(x0 + vx * t), round(y0 + vy * t)
        if -8 < y < H and -8 < x < W:
            image[max(y, 0) : max(y + 8, 0), max(x, 0) : max(x + 8, 0)] = (40, 45, 50)
    return image


def run(cars, frames=200, scale=1.0, claims=None, config=None, released=None):
    loop = VirtualLoop(LINE, (H, W), config or LoopsConfig())
    out = []
    for t in range(frames):
        seen = (claims or {}).get(t, ())
        out += loop.update(road(t, cars), t, t / FPS, scale, seen, (released or {}).get(t, ()))
    return out + loop.flush(scale), loop


def test_a_small_car_driving_down_crosses_in_when_its_bottom_meets_the_line():
    # top at y = 0 at frame 100: its bottom (y + 8) reaches the line (60) at frame 152
    decided, _ = run([(70, -100, 0, 1)])
    assert len(decided) == 1
    direction, frame, t_s = decided[0]
    assert direction == "in" and abs(frame - 152) <= 1 and t_s == pytest.approx(frame / FPS)


def test_a_small_car_driving_up_crosses_out_when_its_rear_leaves_the_line():
    # top at y = 110 at frame 90, moving up 1 px/frame: its bottom leaves the line at ~147
    decided, _ = run([(30, 200, 0, -1)], frames=220)
    assert [d for d, _, _ in decided] == ["out"]
    assert abs(decided[0][1] - 147) <= 2


def test_a_car_during_the_warm_up_counts_and_the_road_behind_it_is_learned():
    decided, _ = run([(70, 20, 0, 1)], frames=120)  # on the line at frames 32-48
    assert [d for d, _, _ in decided] == ["in"]


def test_a_crossing_the_line_counter_saw_is_claimed_once():
    # the counter saw a track cross at frame 152 with its box around the car
    claim = {152: [("in", 152 / FPS, 68.0, 52.0, 80.0, 61.0)]}
    decided, loop = run([(70, -100, 0, 1), (72, -140, 0, 1)], frames=260, claims=claim)
    assert loop.claimed == 1
    assert len(decided) == 1 and abs(decided[0][1] - 192) <= 1  # the second car is the loop's


def test_a_claim_the_line_counter_drops_later_gives_the_blob_back():
    # the counter saw a track cross with the car (frame 152), then dropped that crossing when
    # it became final (frame 230: a track output on too few frames, a box that jumped back)
    claim = {152: [("in", 152 / FPS, 68.0, 52.0, 80.0, 61.0)]}
    decided, loop = run([(70, -100, 0, 1)], frames=260, claims=claim)
    assert decided == [] and loop.claimed == 1
    released = {230: [("in", 152 / FPS)], 231: [("in", 152 / FPS)]}  # twice: counted once
    decided, loop = run([(70, -100, 0, 1)], frames=260, claims=claim, released=released)
    assert [d for d, _, _ in decided] == ["in"] and abs(decided[0][1] - 152) <= 1
    assert loop.claimed == 0


def test_a_claim_elsewhere_on_the_line_or_the_other_way_does_not_hide_the_car():
    claims = {152: [("in", 152 / FPS, 120.0, 52.0, 132.0, 61.0), ("out", 152 / FPS, 68.0, 52.0,
                                                                  80.0, 61.0)]}  # fmt: skip
    decided, loop = run([(70, -100, 0, 1)], claims=claims)
    assert len(decided) == 1 and loop.claimed == 0


def test_a_road_user_the_detector_sees_is_left_to_it():
    decided, loop = run([(70, -100, 0, 1)], scale=3.0)  # 8-9 px wide: 24+ px in the model
    assert decided == [] and loop.too_large == 1


def test_a_flickering_spot_and_a_car_still_on_the_line_are_not_crossings():
    loop = VirtualLoop(LINE, (H, W), LoopsConfig())
    out = []
    for t in range(200):
        image = road(t, [])
        if t % 7 in (0, 1) and t > 80:  # a light blinking on the line, all three rows at once
            image[55:66, 100:106] = 250
        if t >= 150:  # a car arriving on the line at the end
            image[58 : 58 + 8, 30:38] = (40, 45, 50)
        out += loop.update(image, t, t / FPS, 1.0)
    assert out + loop.flush(1.0) == []
    assert loop.claimed == 0 and loop.too_large == 0  # rejected as no road user, not as seen


def test_loops_off_and_settings_are_checked():
    import yaml

    assert LoopsConfig(mode="off").mode == "off"
    for text in ("off", "false", "{mode: off}", "{mode: false}"):  # YAML's off is a boolean
        assert LoopsConfig.model_validate(yaml.safe_load(text)).mode == "off", text
    assert LoopsConfig.model_validate(yaml.safe_load("{mode: auto}")).mode == "auto"
    with pytest.raises(ValueError):
        LoopsConfig(below_px=0)
    with pytest.raises(ValueError):
        LoopsConfig(unknown=1)


def test_a_car_already_across_the_line_when_the_loop_starts_is_not_counted():
    # moving down, on all three rows at frame 0 (y 56-63): its bottom (the anchor) may have met
    # the line before the loop started
    decided, _ = run([(70, 56, 0, 1)], frames=60)
    assert decided == []
    decided, _ = run([(70, 56, 0, 1), (20, 20, 0, 1)], frames=120)  # a later one still counts
    assert [d for d, _, _ in decided] == ["in"]


def test_a_car_on_the_rows_at_the_start_whose_bottom_has_not_met_the_line_counts():
    # moving down: rows 0-7 of the car at y 50-57 cover the upstream row (57) at frame 0, not the
    # line (60); its bottom meets the line at frame 3
    decided, _ = run([(70, 50, 0, 1)], frames=60)
    assert [(d, f) for d, f, _ in decided] == [("in", 3)]
    # moving up: at frame 0 the car (y 56-63) covers all three rows, its bottom below the line;
    # its bottom is last on the line's row at frame 3 (y 53-60), and the loop sees it leave
    decided, _ = run([(110, 56, 0, -1)], frames=60)
    assert [(d, f) for d, f, _ in decided] == [("out", 3)]


def test_a_car_standing_on_the_line_keeps_the_loops_state_bounded():
    from carbonedge.vision.counting.loops import MAX_CLAIMS

    loop = VirtualLoop(LINE, (H, W), LoopsConfig())
    claim = [("in", 0.0, 120.0, 52.0, 132.0, 61.0)]
    for t in range(1500):  # arrives after the warm-up and stands on the line; tracks pass by
        image = road(t, [(30, min(t - 100, 55), 0, 0)])  # comes down, stops on all three rows
        loop.update(image, t, t / FPS, 1.0, [("in", t / FPS, *claim[0][2:])])
    assert len(loop._claims) <= MAX_CLAIMS
    assert len(loop._active) == 1 and loop._active[0].on_line_frames > 1000


def test_a_loop_crossing_takes_the_class_most_of_its_lines_tracked_crossings_had():
    """The stage labels a loop crossing "car" (``class_name``) until its line has seen
    ``CLASS_FROM`` tracked crossings, then with their most common class (a zebra: pedestrians)."""
    from types import SimpleNamespace

    from carbonedge.runtime.base.stage import StageContext
    from carbonedge.runtime.base.types import Packet
    from carbonedge.runtime.stages.loops import CLASS_FROM, LoopsStage

    detector = SimpleNamespace(model_px_per_frame_px_xy=lambda hw: (1.0, 1.0))
    stage = LoopsStage(SimpleNamespace(lines=[LINE], loops=LoopsConfig()), detector)
    stage.start(StageContext(device_id="box", camera_id="cam", fps=FPS))
    kinds = ["pedestrian"] * (CLASS_FROM - 2) + ["car", "pedestrian"]
    for t, kind in enumerate(kinds):
        assert stage.class_of("L") == "car"
        seen = [("L", "in", t / FPS, 0.0, 0.0, 1.0, 1.0, kind)]
        stage.process(Packet(frame=make_frame(road(t, []), index=t, fps=FPS),
                             crossings_seen=seen))  # fmt: skip
    assert stage.class_of("L") == "pedestrian"
    [event] = stage._events(stage._loops[0], [("in", 9, 9 / FPS)])  # what a loop crossing emits
    assert (event.class_name, event.tracker_id) == ("pedestrian", -1)
