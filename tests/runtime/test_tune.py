"""``carbonedge tune``: a cheaper detector setting that keeps the reference's crossings, written
to ``SITE.tuned.yaml``, used by ``run`` (log line), and ``--check`` failing once it no longer
matches. Real footage: the first 150 frames of the CDnet highway clip (the first true crossing
is at frame 138), YOLOX-nano, one model and one scale (0.5x) to keep it short."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from carbonedge.runtime.audit_events import Crossing
from carbonedge.runtime.cli import main
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.tune_result import compare_crossings
from carbonedge.runtime.tuned_config import sidecar_path

SHARED = Path(os.environ.get("CARBONEDGE_SHARED_DIR", Path(__file__).parents[3] / "shared"))
CLIP = SHARED / "media" / "traffic" / "highway_cdnet_320x240.avi"
FRAMES = "150"


def _need_clip() -> None:
    if not CLIP.is_file() or not (SHARED / "models" / "yolox_nano_416.onnx").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CLIP} or the YOLOX model is missing (CI=true: ../shared is required)")
        pytest.skip(f"needs ../shared (the highway clip and models): {CLIP} not found")


def _site(folder: Path, line_y: int = 150) -> Path:
    site = folder / "site.yaml"
    site.write_text(
        "# a site of one camera (this comment must survive tuning)\n"
        + yaml.safe_dump(
            {
                "device_id": "tune-test",
                "detector": {
                    "type": "yolox",
                    "roi": None,
                    "input_fit": False,
                    "session": {"intra_op_threads": 2},
                },
                "cameras": {
                    "highway": {
                        "source": {"type": "video_file", "path": str(CLIP)},
                        "lines": [{"id": "y150", "start_px": [0, line_y], "end_px": [320, line_y]}],
                    }
                },
                "output": {"sqlite_path": str(folder / "out.sqlite"), "jsonl_path": None},
                "health": {"enabled": False},
            }
        ),  # fmt: skip
        encoding="utf-8",
    )
    return site


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """(site config, stdout of ``carbonedge tune``): tuned once for the whole module.

    The model folder is set for this module's tests only (undone after its last one): a
    ``setdefault`` here once let later tests in the same worker pass by order."""
    _need_clip()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(
            "CARBONEDGE_MODEL_DIR", os.environ.get("CARBONEDGE_MODEL_DIR", str(SHARED / "models"))
        )
        yield _tune_once(tmp_path_factory)


def _tune_once(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    site = _site(folder)
    capture = folder / "stdout.txt"
    import contextlib

    with open(capture, "w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
        rc = main(["tune", str(site), "--clip", str(CLIP), "--max-frames", FRAMES,
                   "--one-model", "--scales", "0.5", "--repeats", "1"])  # fmt: skip
    assert rc == 0
    return site, capture.read_text(encoding="utf-8")


def test_tune_finds_a_cheaper_setting_that_matches_the_reference(tuned):
    site, stdout = tuned
    data = yaml.safe_load(sidecar_path(site).read_text(encoding="utf-8"))
    entry = data["cameras"]["highway"]
    report = entry["report"]
    assert report["events"]["reference"] >= 1  # the van at frame 138
    assert report["events"]["matched"] == report["events"]["reference"]
    assert report["events"]["missed"] == report["events"]["extra"] == 0
    assert not report["chosen"].startswith("reference")
    h, w = entry["detector"]["input_hw"]  # a smaller model input than the reference's 416x416
    assert h * w < 416 * 416
    assert "| reference: yolox whole frame |" in stdout and "(chosen)" in stdout
    assert " zoom off |" in stdout  # the zoom windows were tried off (runtime/tune_zoom.py)
    assert " every 2 |" in stdout  # the detection stride was tried (runtime/tune_stride.py)
    assert "WARNING: only 1 reference crossings: too few" in stdout  # 150 frames, one van
    assert site.read_text(encoding="utf-8").startswith("# a site of one camera")


def test_run_uses_the_tuned_settings_and_says_so(tuned, caplog):
    site, _ = tuned
    caplog.set_level(logging.WARNING, logger="carbonedge.runtime.tuned_config")
    assert main(["run", str(site), "--max-frames", "2"]) == 0
    assert f"using tuned detector settings from {sidecar_path(site)}" in caplog.text
    entry = yaml.safe_load(sidecar_path(site).read_text(encoding="utf-8"))["cameras"]["highway"]
    camera = load_site_config(site).cameras["highway"]
    assert list(camera.detector.input_hw) == entry["detector"]["input_hw"]
    assert load_site_config(site, tuned=False).cameras["highway"].detector.input_hw is None


def test_tuned_settings_of_a_changed_camera_are_ignored(tuned, tmp_path, caplog):
    site, _ = tuned
    moved = _site(tmp_path, line_y=160)  # the line moved since tuning
    sidecar_path(moved).write_text(sidecar_path(site).read_text(encoding="utf-8"))
    caplog.set_level(logging.WARNING, logger="carbonedge.runtime.tuned_config")
    assert load_site_config(moved).cameras["highway"].detector.input_hw is None
    assert "changed since tuning" in caplog.text


def test_check_fails_when_the_crop_leaves_out_the_lines_vehicles(tuned, capsys):
    site, _ = tuned
    path = sidecar_path(site)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # a crop in the top left corner (grown to the input aspect, still far above the line)
    data["cameras"]["highway"]["detector"].update(roi=[0, 0, 64, 48], roi_margin_px=None)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    rc = main(["tune", str(site), "--check", "--clip", str(CLIP), "--max-frames", FRAMES])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "NO LONGER MATCHES" in out


@pytest.mark.parametrize(
    ("counted", "expected"),
    [
        ([("y", "in", 5.0, "car")], (1, 0, 0)),
        ([("y", "in", 5.9, "car")], (1, 0, 0)),  # within 1 s
        ([("y", "in", 6.2, "car")], (0, 1, 1)),  # too late
        ([("y", "out", 5.0, "car")], (0, 1, 1)),  # other direction
        ([("y", "in", 5.0, "hgv")], (0, 1, 1)),  # other class: a miss and an extra
        ([("y", "in", 5.0, "car"), ("y", "in", 5.1, "car")], (1, 0, 1)),
        ([], (0, 1, 0)),
    ],
)
def test_compare_crossings(counted, expected):
    reference = [Crossing("y", "in", 5.0, 50, "car")]
    other = [Crossing(line, d, t, round(t * 10), c) for line, d, t, c in counted]
    assert compare_crossings(reference, other) == expected


def test_minutes_of_the_cameras_source_are_recorded_to_tune_on(tmp_path):
    import cv2

    from carbonedge.devices.sources.video_file import VideoFileConfig
    from carbonedge.runtime.tune_record import record_minutes

    _need_clip()
    out = record_minutes(VideoFileConfig(id="highway", path=CLIP), 0.5 / 60, tmp_path / "a.avi")
    cap = cv2.VideoCapture(str(out))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    assert 29 <= frames <= 31 and size == (320, 240)  # 0.5 s of the 60 FPS clip (media time)


class _FakeRunner:
    """What ``candidates`` asks of the runner: the plan (lines) and each model's input."""

    def __init__(self) -> None:
        from carbonedge.runtime.pipeline import CameraPlan
        from carbonedge.vision.counting.line import LineConfig

        self.plan = CameraPlan(lines=[LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))])

    def detector(self, candidate):
        from types import SimpleNamespace

        stretches = candidate.detector["type"] == "picodet"  # PicoDet stretches, YOLOX letterboxes
        return SimpleNamespace(input_hw=(416, 416), stretches=stretches)


def test_candidates_size_a_stretching_model_as_it_runs():
    """PicoDet stretches a 640x360 frame to its whole 416x416 input: its whole-frame x1 is the
    reference itself (not tried again, not labelled 256x416), and its smaller scales keep both
    axes' scales; YOLOX letterboxes the frame into 416x234 -> 256x416."""
    from carbonedge.runtime.tune import candidates
    from carbonedge.runtime.tune_result import Candidate

    ref = Candidate(
        "reference", {"type": "picodet", "roi": None, "input_fit": False, "detect_fps": None}
    )  # as reference_settings makes it
    chains = candidates(_FakeRunner(), ref, {"type": "picodet"}, (360, 640), None, (1.0, 0.5))
    sizes = {c.name: c.input_hw for chain in chains for c in chain}
    assert "picodet frame x1" not in sizes  # = the reference's 416x416
    assert sizes["picodet frame x0.5"] == (192, 192)
    assert sizes["yolox frame x1"] == (256, 416)
    assert sizes["yolox frame x0.5"] == (128, 192)
    every_frame = [c.detector.get("detect_fps", "unset") for ch in chains[1:] for c in ch]
    assert every_frame and all(v is None for v in every_frame)  # strides are tried last


def test_zoom_off_is_tried_only_where_the_candidate_zooms():
    from carbonedge.runtime.tune_result import Candidate
    from carbonedge.runtime.tune_zoom import zoom_off_candidate
    from carbonedge.vision.detectors.picodet import PicodetConfig

    dumped = PicodetConfig().model_dump(mode="json")  # zoom: {mode: auto, ...}, as tune reads it
    off = zoom_off_candidate(Candidate("picodet frame x1", dumped, (416, 416)))
    assert off is not None and off.name == "picodet frame x1 zoom off"
    assert off.detector["zoom"] == {**dumped["zoom"], "mode": "off"}
    assert PicodetConfig.model_validate(off.detector).zoom.mode == "off"
    assert zoom_off_candidate(off) is None
    assert zoom_off_candidate(Candidate("motion", {"type": "motion"})) is None


def _hand_count(folder: Path, line: str = "y150") -> Path:
    """The highway clip's first true crossing (benchmarks/truth): the white van at frame 138."""
    path = folder / "truth.yaml"
    path.write_text(yaml.safe_dump({
        "clip": CLIP.name,
        "lines": [{"id": line, "start_px": [0, 150], "end_px": [320, 150]}],
        "vehicles": [{"line": line, "direction": "in", "frame": 138, "class": "van"}],
    }), encoding="utf-8")  # fmt: skip
    return path


def test_tune_against_a_hand_count(tmp_path, monkeypatch, capsys):
    """With --truth the hand count is the standard: the reference is scored against it too and
    a candidate may make as many errors as the reference does (+ tolerance)."""
    _need_clip()
    monkeypatch.setenv(
        "CARBONEDGE_MODEL_DIR", os.environ.get("CARBONEDGE_MODEL_DIR", str(SHARED / "models"))
    )
    site = _site(tmp_path)
    rc = main(["tune", str(site), "--clip", str(CLIP), "--max-frames", FRAMES, "--truth",
               str(_hand_count(tmp_path)), "--one-model", "--scales", "0.5", "--repeats", "1",
               "--no-stride"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    report = yaml.safe_load(sidecar_path(site).read_text(encoding="utf-8"))["cameras"]["highway"][
        "report"
    ]
    assert report["standard"] == "hand count" and report["events"]["reference"] == 1
    ref_row = next(row for row in out.splitlines() if row.startswith("| reference: yolox"))
    ref_matched, ref_missed, ref_extra = (int(v) for v in ref_row.split("|")[6].replace(
        "of 1", "").split("/"))  # fmt: skip
    assert ref_matched + ref_missed == 1  # the van: counted (as a van) or not
    assert report["events"]["missed"] <= ref_missed and report["events"]["extra"] <= ref_extra
    assert "hand count 1 crossings, the standard; a candidate may miss no more than the " in out
    assert "WARNING: only 1 hand count crossings" in out
    assert "hand-counted crossings matched" in out


@pytest.mark.parametrize(
    ("missed", "extra", "tolerance", "ok"),
    [
        (20, 13, 0, True),  # as the reference: it misses 20 of 25 hand-counted, counts 13 extra
        (18, 10, 0, True),  # better on both
        (25, 0, 0, False),  # counts nothing: no extra left, but 5 more missed
        (21, 12, 0, False),  # one more missed bought one fewer extra
        (21, 12, 1, True),  # ... within tolerance 1
        (20, 15, 1, False),  # two more extra
    ],
)
def test_a_candidate_may_not_trade_misses_for_extras(missed, extra, tolerance, ok):
    """Against a hand count the reference's own errors are the bar, per kind: a candidate that
    counts nothing has no extras but misses everything (the Dhaka clip: 25 hand-counted, the
    reference right on 5 with their class)."""
    from carbonedge.runtime.tune_result import Candidate, Trial

    reference = Trial(Candidate("reference", {}), matched=5, missed=20, extra=13)
    trial = Trial(Candidate("cheap", {}), matched=25 - missed, missed=missed, extra=extra)
    assert trial.matches(tolerance, reference) is ok
    # the reference's 13 extras are 11 of its vehicles counted with a wrong class (each also
    # a miss with the class) and 2 phantoms; a candidate that stops counting those 11 has only
    # 2 extras with the class, the same 20 missed, but 11 more vehicles missed without it
    reference.events_missed, reference.events_extra = 9, 2
    dropped = Trial(Candidate("drops them", {}), matched=5, missed=20, extra=2,
                    events_missed=20, events_extra=2)  # fmt: skip
    assert not dropped.matches(0, reference)
    assert Trial(Candidate("as the reference", {}), matched=5).matches(0)  # no base: no errors
    assert not Trial(Candidate("one extra", {}), matched=5, extra=1).matches(0)


def test_a_hand_count_of_other_lines_or_without_a_clip_is_refused(tmp_path, capsys):
    _need_clip()
    site = _site(tmp_path)
    truth = _hand_count(tmp_path, line="north")
    assert main(["tune", str(site), "--clip", str(CLIP), "--truth", str(truth)]) == 2
    err = capsys.readouterr().err
    assert f"--truth {truth}: line(s) north are not lines of the camera (its lines: y150)" in err
    assert main(["tune", str(site), "--minutes", "1", "--truth", str(truth)]) == 2
    assert "--truth counts one recorded clip: give it with --clip" in capsys.readouterr().err
