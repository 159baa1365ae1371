"""Hard counting cases on real frames: the dev highway clip played backwards (every vehicle enters
at the bottom edge, large and near, and drives away from the camera), audited with the default
detector against the hand count mirrored in time."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.shared]

TRUTH = Path(__file__).parents[2] / "benchmarks" / "truth" / "highway_cdnet_320x240.yaml"
FIRST, LAST = 0, 719  # 12 s of the 60 fps clip, reversed


def _reversed_clip(shared_dir: Path, out: Path) -> tuple[Path, float]:
    import cv2

    cap = cv2.VideoCapture(str(shared_dir / "media" / "traffic" / "highway_cdnet_320x240.avi"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) <= LAST:
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    path = out / "highway_reversed.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for image in reversed(frames[FIRST : LAST + 1]):
        writer.write(image)
    writer.release()
    return path, fps


# At the default detect_fps (25: every 2nd frame of this 60 fps clip) a lorry's second box,
# confirmed as a track of its own, is backfilled through loose low-score boxes around the lorry
# down to the line and counted again (one phantom). Two rules that stop it (no chain link
# more than 2x larger or smaller than the next; no stored box with a tracked box inside it) each
# cost 3-4 matched crossings over the 20 truth clips (0.830 -> 0.826 / 0.827): not taken. In
# session 14 the zoom windows hid it (the line stayed zoomed, learning, for the whole 12 s); since
# a line of plainly large road users is decided after 3 tracks, the windows stop before the
# lorry and the phantom is back.
KNOWN_PHANTOM = pytest.mark.xfail(
    strict=True, reason="backfill through loose boxes around a lorry: one phantom at 30 looks/s"
)


@pytest.mark.parametrize(
    "detect_fps", [pytest.param(None, id="every-frame"), pytest.param(25.0, marks=KNOWN_PHANTOM)]
)
def test_vehicles_driving_away_from_a_bottom_edge_entry_count_once(
    shared_dir: Path, with_model_dir: Path, tmp_path: Path, detect_fps: float | None
) -> None:
    from carbonedge.runtime.audit_traffic import TrafficTruth, audit_clip, load_truth
    from carbonedge.vision.detectors.base import DEFAULT_DETECTOR

    clip, fps = _reversed_clip(shared_dir, tmp_path)
    forward = load_truth(TRUTH)
    margin = round(0.5 * fps)  # crossings this close to the cut may be half inside it
    mirrored = [
        {"line": v.line, "direction": "out", "frame": LAST - v.frame, "class": v.class_name}
        for v in forward.vehicles or []
        if FIRST + margin <= (v.frame or 0) <= LAST - margin
    ]
    assert len(mirrored) >= 6
    truth = TrafficTruth.model_validate(
        {
            "lines": [ln.model_dump() for ln in forward.lines],
            "vehicles": mirrored,
            "detector": {**DEFAULT_DETECTOR, "detect_fps": detect_fps},
        }
    )
    report = audit_clip(clip, truth)
    events = report.events
    assert events is not None
    assert not events.phantoms, [c.to_dict() for c in events.phantoms]
    assert len(events.missed) <= 1, [c.to_dict() for c in events.missed]
    assert all(c.direction == "out" for c in events.counted)
