"""Capture times from tower-camera file names and the sequence truth beside them."""

from __future__ import annotations

from calendar import timegm
from pathlib import Path

import pytest

from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.vision.fire.stamps import parse_stamp
from carbonedge.vision.fire.truth import sequence_truth

T0 = float(timegm((2020, 6, 11, 19, 56, 1, 0, 0, 0)))


@pytest.mark.parametrize(
    ("name", "t_s", "offset_s", "camera"),
    [
        ("1531946340_+00120.jpg", 1531946340.0, 120.0, "figlib"),
        ("1531938169_-02400.jpg", 1531938169.0, -2400.0, "figlib"),
        ("hpwren_figlib_lpnmobocX01000_2020_06_11T19_56_01.jpg", T0, None,
         "hpwren_figlib_lpnmobocX01000_#"),
        ("Axis-Tahoe-2020-06-11T19-56-01.jpg", T0, None, "Axis-Tahoe-#"),
        ("cam_2020-06-11 19:56:01.png", T0, None, "cam_#"),
        ("20200611T195601_north.jpg", T0, None, "#_north"),
        ("tower3_20200611_195601.jpg", T0, None, "tower3_#"),
        ("ridge_1591905361.jpg", T0, None, "ridge_#"),
        # no capture time: stills
        ("kde_ColdRipple.jpg", None, None, None),
        ("Cu-N001.jpg", None, None, None),
        ("cam_2020_13_11T19_56_01.jpg", None, None, None),  # month 13
        ("photo_12345.jpg", None, None, None),
    ],
)  # fmt: skip
def test_parse_stamp(name: str, t_s, offset_s, camera) -> None:
    stamp = parse_stamp(Path(name))
    if t_s is None:
        assert stamp is None
    else:
        assert stamp is not None
        assert (stamp.t_s, stamp.offset_s, stamp.camera) == (t_s, offset_s, camera)


def _frames(folder: Path, offsets: list[int]) -> tuple[list[Path], list[float]]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{1000000000 + o}_{o:+06d}.jpg" for o in offsets]
    for f in files:
        f.write_bytes(b"")
    return files, [float(1000000000 + o) for o in offsets]


def test_truth_from_frames_csv(tmp_path: Path) -> None:
    files, times = _frames(tmp_path, [-120, -60, 0, 60, 120])
    (tmp_path / "labels").mkdir()
    rows = ["file,unix_utc,offset_s,figlib_positive,smoke_visible_by_eye,note"]
    rows += [f"{f.name},{int(t)},{int(t) - 1000000000},{int(t >= 1e9)},{int(t >= 1e9 + 60)},"
             for f, t in zip(files, times, strict=True)]  # fmt: skip
    (tmp_path / "labels" / "frames.csv").write_text("\n".join(rows) + "\n")
    truth = sequence_truth(files, times)
    assert (truth.ignition_t_s, truth.first_smoke_t_s) == (1e9, 1e9 + 60)
    assert truth.source == "frames.csv"


def test_truth_from_yolo_labels_and_from_figlib_names(tmp_path: Path) -> None:
    files, times = _frames(tmp_path / "a", [-60, 0, 60, 120])
    (tmp_path / "a" / "labels").mkdir()
    (tmp_path / "a" / "labels" / f"{files[3].stem}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    truth = sequence_truth(files, times)
    assert (truth.ignition_t_s, truth.first_smoke_t_s) == (1e9, 1e9 + 120)  # ignition: names
    files, times = _frames(tmp_path / "b", [-120, -60])
    assert not sequence_truth(files, times).positive  # all before ignition: a negative


def test_truth_bad_csv_names_file_row_and_field(tmp_path: Path) -> None:
    files, times = _frames(tmp_path, [-60, 0, 60])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "frames.csv").write_text(
        f"file,smoke_visible_by_eye\n{files[0].name},0\n{files[1].name},yes\n"
    )
    with pytest.raises(SourceOpenError, match=r"frames.csv row 3 smoke_visible_by_eye: .*'yes'"):
        sequence_truth(files, times)
