"""``carbonedge calibrate homography|intrinsics|save|verify`` from the shell's point of view."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from test_homography import SIZE_PX, lane_marking_points
from test_intrinsics import board_views, write_frames

from carbonedge.runtime.cli import main

KEY = "cli-calibration-key-0123456789"


def write_csv(path: Path, px: np.ndarray, world: np.ndarray) -> Path:
    rows = ["x_px,y_px,x_m,y_m"] + [
        f"{p[0]:.2f},{p[1]:.2f},{w[0]},{w[1]}" for p, w in zip(px, world, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_homography_pass_fail_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    px, world = lane_marking_points()
    good = write_csv(tmp_path / "good.csv", px, world)
    assert main(["calibrate", "homography", str(good), "--image-size", "640x360"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "loo_m" in out and f"{len(px):>3} " in out

    bad_world = world.copy()
    bad_world[2] += (3.0, 0.0)
    bad = write_csv(tmp_path / "bad.csv", px, bad_world)
    assert main(["calibrate", "homography", str(bad), "--json"]) == 1
    fit = json.loads(capsys.readouterr().out)
    assert fit["verdict"] == "fail" and fit["inliers"][2] is False and "point 3" in fit["reason"]

    (tmp_path / "pts.yaml").write_text(yaml.safe_dump({
        "image_size_px": list(SIZE_PX),
        "points": [{"image_px": [0, 0], "world_m": [0, 0]},
                   {"image_px": [10, 0], "world_m": [1, 0]},
                   {"image_px": [0, 10], "world_m": [0, 1]}],
    }))  # fmt: skip
    assert main(["calibrate", "homography", str(tmp_path / "pts.yaml")]) == 2
    assert "at least 4 point pairs (got 3)" in capsys.readouterr().err

    (tmp_path / "broken.csv").write_text("x,y,X,Y\n1,2,3,4\n5,6,seven,8\n")
    assert main(["calibrate", "homography", str(tmp_path / "broken.csv")]) == 2
    assert "broken.csv:3: expected 4 numbers" in capsys.readouterr().err


def test_intrinsics_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = write_frames(tmp_path, board_views(8))
    out_json = tmp_path / "k.json"
    args = ["calibrate", "intrinsics", *map(str, paths), "--board", "9x6", "--square-mm", "25"]
    assert main([*args, "--out", str(out_json)]) == 0
    assert "RMS reprojection error" in capsys.readouterr().out
    assert json.loads(out_json.read_text())["camera_matrix"][0][0] == pytest.approx(520, rel=0.02)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((480, 640), np.uint8))
    assert main(["calibrate", "intrinsics", str(blank)]) == 2
    assert "not found in: " + str(blank) in capsys.readouterr().err


def test_save_verify_and_bad_records(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "device_id": "b", "cameras": {"cam": {"source": {"type": "synthetic", "duration_s": 1}}},
        "detector": {"type": "motion"},
        "calibration": {"records_dir": str(tmp_path / "rec"), "key": KEY},
    }))  # fmt: skip
    record = tmp_path / "r.yaml"
    record.write_text(
        yaml.safe_dump({"lines": [{"id": "a", "start_px": [0, 9], "end_px": [99, 9]}]})
    )
    snap = tmp_path / "snap.png"
    cv2.imwrite(str(snap), np.zeros((36, 64, 3), np.uint8))
    save = ["calibrate", "save", str(site), "--from", str(record)]
    assert main([*save, "--source", "cam", "--snapshot", str(snap), "--by", "ana"]) == 0
    assert "saved cam@v1" in capsys.readouterr().out
    path = tmp_path / "rec" / "cam" / "v0001.json"
    assert main(["calibrate", "verify", str(path), "--site", str(site)]) == 0
    assert "OK: " in capsys.readouterr().out
    key_file = tmp_path / "key"
    key_file.write_text("some-other-key-0123456789\n")
    key_file.chmod(0o600)
    assert main(["calibrate", "verify", str(path), "--key-file", str(key_file)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and f"{path}: calibration record signature does not verify" in out

    assert main([*save, "--source", "nope"]) == 2
    assert "--source 'nope' is not among the cameras and sensors (cam)" in capsys.readouterr().err
    record.write_text(yaml.safe_dump({"lines": [], "colour": "red"}))
    assert main([*save, "--source", "cam"]) == 2
    assert "colour: unknown key" in capsys.readouterr().err
