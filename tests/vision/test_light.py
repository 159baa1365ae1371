"""Light classifier on real frames of the hard-condition clips, and its hysteresis."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.vision.light import LightHysteresis, LightRules, classify_light, light_stats

CLIPS = {  # clip -> the light its truth file's `conditions:` names (benchmarks/truth)
    "freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4": "dusk",
    "freeway_glare_haze_caltrans_s101_jblitzar.mp4": "glare",
    "street_residential_low_sun_10fps_us_ckuhn517.mp4": "fog",  # low sun, haze: a veil, no sky
    "freeway_distant_sunny_caltrans_i280_jblitzar.mp4": "day",
    "freeway_congested_lorries_caltrans_jblitzar.mp4": "day",  # dark road under a bright sky
    "arterial_queue_bus_london_pentonville_jamcam_dssg.mp4": "day",  # 9 % saturated sky
    "street_residential_light_us_ahmetozlu.mp4": "day",
}


def read_frame(shared_dir: Path, clip: str, index: int = 20) -> np.ndarray:
    cap = cv2.VideoCapture(str(shared_dir / "media" / "traffic" / clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {clip}"
    return frame


@pytest.mark.parametrize(("clip", "state"), CLIPS.items())
def test_real_frames_are_classified_by_their_light(shared_dir: Path, clip: str,
                                                   state: str) -> None:  # fmt: skip
    stats = light_stats(read_frame(shared_dir, clip))
    assert classify_light(stats) == state, f"{clip}: {stats.describe()}"


def test_a_dusk_frame_two_stops_darker_is_night(shared_dir: Path) -> None:
    """No clip in ../shared has a night exposure (the Piccadilly JamCam lifts its night scene to
    a median of 113: day by these statistics); a real dusk frame at a quarter of the light is
    one: sky and road dark."""
    dusk = read_frame(shared_dir, "freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4")
    night = (dusk.astype(np.float32) * 0.25).astype(np.uint8)
    stats = light_stats(night)
    assert stats.sky_mean < LightRules().night_sky_level
    assert classify_light(stats) == "night", stats.describe()


def test_statistics_of_a_known_image() -> None:
    image = np.zeros((100, 200), np.uint8)
    image[:20] = 255  # the top band (sky_fraction 0.2) saturated, the rest black
    stats = light_stats(image)
    assert stats.sky_mean == pytest.approx(255)
    assert stats.saturated_pct == pytest.approx(20, abs=2)  # rows blend at 64 px
    assert stats.p50 == 0 and stats.p95 == 255 and stats.contrast == pytest.approx(1)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "non-empty uint8"),
        (np.zeros((10, 10, 3), np.float32), "float32"),
    ],
)
def test_bad_images_are_refused_with_their_shape(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        light_stats(image)


def test_hysteresis_switches_only_after_the_hold() -> None:
    """A scripted day -> dusk evening with a passing headlight flash and a flickering sample."""
    hold = LightHysteresis(hold_s=10.0)
    script = (
        [("day", t) for t in range(0, 20)]  # day
        + [("dusk", 20), ("dusk", 21), ("day", 22)]  # 2 s of dusk-like samples: no switch
        + [("dusk", t) for t in range(23, 33)]  # dusk from 23 s: switch at 33 s, not before
        + [("dusk", 33)]
        + [("day", 34), ("dusk", 35)] * 10  # flapping samples: stays dusk
    )
    states, switches = [], 0
    for raw, t in script:
        switches += hold.update(raw, float(t))
        states.append((t, hold.state))
    assert dict(states)[32] == "day"
    assert dict(states)[33] == "dusk"
    assert switches == 1
    assert hold.state == "dusk"


def test_the_first_sample_sets_the_state_at_once() -> None:
    hold = LightHysteresis(hold_s=30.0)
    assert hold.update("night", 0.0) is False
    assert hold.state == "night"
    with pytest.raises(ValueError, match="hold_s"):
        LightHysteresis(-1.0)
