"""Light profiles in a real pipeline and a real site: a clip that goes from day to dusk switches
the camera from PicoDet to the fused detector after the hold, and /healthz, /metrics and the
interval summaries say so.

The clip is made of real frames: 1 s of the sunny Caltrans freeway, then 2 s of the dusk
Caltrans freeway (both 352x240 at 29.97 fps in ../shared/media/traffic).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pytest

from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.light_profiles import LightProfilesConfig, ProfiledDetector
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.site import Site
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector

DAY = "media/traffic/freeway_distant_sunny_caltrans_i280_jblitzar.mp4"
DUSK = "media/traffic/freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4"
LINE = {"id": "approach", "start_px": [128, 200], "end_px": [222, 200]}
FPS, CUT, FRAMES = 29.97, 30, 90  # day frames 0-29, dusk frames 30-89
FAST = {"sample_every_s": 0.25, "hold_s": 0.5}  # a 3 s clip: switch after 0.5 s of dusk samples
# the clip starts on a minute: its 3 s lie in one 60 s interval (by default a file starts at its
# mtime minus its duration, and a run that straddled a minute made two summaries)
START = "2026-01-01T12:00:00+00:00"


@pytest.fixture(scope="module")
def day_to_dusk(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("light") / "day_to_dusk.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (352, 240))
    for clip, frames in ((DAY, CUT), (DUSK, FRAMES - CUT)):
        cap = cv2.VideoCapture(str(shared_dir / clip))
        for _ in range(frames):
            ok, frame = cap.read()
            assert ok, clip
            writer.write(frame)
        cap.release()
    writer.release()
    return path


@pytest.mark.slow
def test_the_switch_changes_the_detector_in_a_pipeline_run(
    day_to_dusk: Path, with_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    picodet = PicodetDetector(PicodetConfig())
    source = VideoFileSource(VideoFileConfig(id="cam", path=day_to_dusk, start_wall=START))
    pipeline = SourcePipeline(
        device_id="box", source=source,
        detector=picodet, interval_s=60.0,
        camera=CameraPlan(lines=[LineConfig(**LINE)], profiles=LightProfilesConfig(**FAST)),
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="carbonedge.runtime.stages.light_profile"):
        result = pipeline.run()
    assert result.error is None and result.frames == FRAMES
    stage = pipeline.stage("light_profile")
    assert stage is not None and stage.state == "dusk" and stage.switches == 1
    detect = pipeline.stage("detect")
    assert isinstance(detect.detector, ProfiledDetector)  # type: ignore[union-attr]
    assert detect.detector.current.name.startswith("fused:")  # type: ignore[union-attr]
    switch = [r.getMessage() for r in caplog.records if "day -> dusk" in r.getMessage()]
    assert len(switch) == 1 and "mean " in switch[0] and "fused:" in switch[0], caplog.text
    frame = int(switch[0].split("frame ")[1].split(":")[0])
    # held for 0.5 s of dusk samples after the cut (the first one within a sample interval)
    assert CUT + 0.5 * FPS <= frame <= CUT + (0.5 + 2 * 0.25) * FPS + 1
    assert len(result.summaries) == 1
    summary = result.summaries[-1].to_dict()["light_profile"]
    assert summary["profile"] == "dusk" and summary["switches"] == 1
    assert summary["seconds"]["day"] == pytest.approx(frame / FPS, abs=0.05)


@pytest.mark.slow
def test_a_site_shows_the_profile_in_healthz_metrics_and_summaries(
    day_to_dusk: Path, with_model_dir: Path, tmp_path: Path
) -> None:
    source = {"type": "video_file", "path": str(day_to_dusk), "start_wall": START}
    camera = {"source": source, "lines": [LINE]}
    config = parse_site_config({
        "device_id": "box", "detector": {"type": "picodet"}, "profiles": FAST,
        "cameras": {"east": camera, "west": camera, "plain": {
            **camera, "profiles": "off",
            "source": {**camera["source"], "max_frames": 10}}},
        "health": {"enabled": False},
        "output": {"sqlite_path": str(tmp_path / "s.sqlite"), "jsonl_path": None},
    }, origin="test")  # fmt: skip
    site = Site(config)
    results = {r.source_id: r for r in site.run()}
    assert [r.frames for r in results.values()] == [FRAMES, FRAMES, 10]
    assert all(r.error is None for r in results.values())
    health = site.health()["sources"]
    assert health["east"]["light_profile"]["profile"] == "dusk"
    assert health["east"]["light_profile"]["detector"].startswith("fused:")
    assert health["east"]["light_profile"]["stats"]["mean"] < 64
    assert "light_profile" not in health["plain"]
    metrics = site.metrics.render()
    for camera_id in ("east", "west"):
        assert f'carbonedge_light_profile{{source="{camera_id}",state="dusk"}} 1.0' in metrics
        assert f'carbonedge_light_profile{{source="{camera_id}",state="day"}} 0.0' in metrics
    light_lines = [ln for ln in metrics.splitlines() if ln.startswith("carbonedge_light_profile{")]
    assert len(light_lines) == 2 * 5 and not any('source="plain"' in ln for ln in light_lines)
    sections = results["east"].summaries[-1].to_dict()
    assert sections["light_profile"]["profile"] == "dusk"
    assert "light_profile" not in results["plain"].summaries[-1].to_dict()
    # both cameras switched to the same fused settings: one instance, built once, shared
    fused = {id(site.pipeline_detectors[c].current) for c in ("east", "west")}
    assert len(fused) == 1


@pytest.mark.parametrize(
    ("profiles", "expected"),
    [
        ("off", {"enabled": False}),
        (False, {"enabled": False}),
        ({"dusk": {"fuse_motion": False}}, {"enabled": True}),
        ({"night": {"fused": {"max_overlap": 2}}}, "profiles.night.fused"),
        ({"glare": {"fused": {"type": "fused"}}}, "type and detector are set by the profile"),
        ({"fog": {"fuse": True}}, "profiles.fog.fuse: unknown key"),
    ],
)
def test_profiles_config_inherits_and_fails_with_the_key(profiles, expected) -> None:
    camera = {"source": {"type": "synthetic"}, "profiles": profiles}
    data = {"device_id": "box", "detector": {"type": "motion"}, "profiles": {"hold_s": 5},
            "cameras": {"cam": camera}}  # fmt: skip
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=expected):
            parse_site_config(data, origin="test")
        return
    profiles = parse_site_config(data, origin="test").cameras["cam"].profiles
    assert profiles.enabled is expected["enabled"]
    if expected["enabled"]:
        assert profiles.hold_s == 5  # the site default, merged
        assert profiles.dusk.fuse_motion is False and profiles.night.fuse_motion


def test_profiled_detectors_share_the_pool_and_build_only_what_they_select() -> None:
    """Model-free: the motion detector as the camera's detector, dusk raises its threshold."""
    from carbonedge.runtime.light_profiles import DetectorPool
    from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig

    base = MotionDetector(MotionDetectorConfig())
    config = LightProfilesConfig(dusk={"detector": {"threshold_levels": 30.0}})
    pool = DetectorPool()
    east = ProfiledDetector(base, config, pool, "east")
    west = ProfiledDetector(base, config, pool, "west")
    assert east.current is base and pool._owned == []  # day: the camera's own, nothing built
    east.select("night")  # fuse_motion on a motion detector: it is motion already, the same one
    assert east.current is base and pool._owned == []
    east.select("dusk")
    west.select("dusk")
    assert east.current is west.current is pool._owned[0]
    assert east.current.config.threshold_levels == 30.0  # type: ignore[attr-defined]
    assert east.class_names == ("vehicle",)
    pool.close()
    assert pool._owned == []
