"""The Stage interface: a new analytic is one stage class plus one registry line (issue 16).

``BrightnessStage`` below is the toy from ARCHITECTURE.md: it owns the summary section
``brightness`` (mean image brightness over the interval), registers its schema fragment and its
compaction rule, and goes into a camera's pipeline by adding its name to the stage order. The
summary it produces validates against the assembled schema, and compaction merges it.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import make_detections

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.sections import SECTIONS, register_section
from carbonedge.runtime.base.stage import STAGES, Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Detections, Frame, Packet
from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
from carbonedge.runtime.stages import STAGE_ORDER
from carbonedge.runtime.uplink import schema
from carbonedge.runtime.uplink.compact import can_merge, merge_summaries
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.base import Detector


# --- the toy stage: what ARCHITECTURE.md walks through ----------------------------------------
def _merge_brightness(a: Any, b: Any, body_a: Any, body_b: Any) -> Any:
    if a is None or b is None:
        return a or b
    fa, fb = body_a["frames"], body_b["frames"]
    return {"mean": round((a["mean"] * fa + b["mean"] * fb) / (fa + fb), 2)}


class BrightnessStage(Stage):
    name = "brightness"
    sections = ("brightness",)

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> Stage | None:
        return cls()

    def start(self, context: StageContext) -> None:
        super().start(context)
        self.total, self.frames = 0.0, 0

    def process(self, packet: Packet) -> Packet:
        self.total += float(packet.frame.image.mean())
        self.frames += 1
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any] | None:
        mean = round(self.total / self.frames, 2) if self.frames else None
        self.total, self.frames = 0.0, 0
        return {"brightness": {"mean": mean}} if mean is not None else None


@pytest.fixture
def toy_stage():
    register_stage(BrightnessStage)
    register_section(
        "brightness", owner="brightness", merge=_merge_brightness,
        schema={"description": "mean image brightness (0-255) over the interval's frames",
                "type": "object", "additionalProperties": False, "required": ["mean"],
                "properties": {"mean": {"type": "number", "minimum": 0, "maximum": 255}}},
    )  # fmt: skip
    schema._validator.cache_clear()
    yield STAGE_ORDER + ("brightness",)  # the one registry line
    SECTIONS.unregister("brightness")
    STAGES._stages.pop("brightness", None)
    schema._validator.cache_clear()


class DownwardBox(Detector):
    """One box moving down 4 px per frame."""

    name = "toy"
    class_names = ("car",)

    def detect(self, frame: Frame, roi_xyxy: Any = None) -> Detections:
        y = 4.0 * frame.index
        return make_detections([[300, y, 340, y + 30]], confidence=[0.9])


def _run(order: tuple[str, ...] | None) -> Any:
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=8.0, fps=15))
    pipeline = SourcePipeline(
        device_id="box",
        source=scene,
        detector=DownwardBox(),
        camera=CameraPlan(lines=[LineConfig(id="l", start_px=(0, 200), end_px=(640, 200))]),
        interval_s=5.0,
        stage_order=order,
    )  # fmt: skip
    return pipeline, pipeline.run()


def test_a_toy_stage_adds_its_section_to_every_summary(toy_stage) -> None:
    pipeline, result = _run(toy_stage)
    assert [s.name for s in pipeline.stages] == [
        "detect",
        "road_classes",
        "track",
        "riders",
        "size_classes",
        "analytics",
        "loops",
        "modal_split",
        "brightness",
    ]
    bodies = [s.to_dict() for s in result.summaries]
    assert len(bodies) == 2
    for body in bodies:
        assert 0 < body["brightness"]["mean"] < 255
        schema.validate_body("interval_summary", body)  # the assembled schema knows it
    assert result.counts()["l"]["in"] == {"car": 1}  # the other stages are unaffected
    # compaction merges it by the stage's rule (frames-weighted mean)
    a, b = bodies
    a["interval_end"] = b["interval_start"]
    assert can_merge(a, b, max_interval_s=3600)
    merged = merge_summaries(a, b)
    fa, fb = a["frames"], b["frames"]
    want = (a["brightness"]["mean"] * fa + b["brightness"]["mean"] * fb) / (fa + fb)
    assert merged["brightness"]["mean"] == pytest.approx(want, abs=0.01)
    # and the schema table of SCHEMA.md lists it with its owner
    assert "| `brightness` | brightness |" in schema.sections_table()


def test_without_the_registry_line_the_schema_refuses_the_section() -> None:
    _, result = _run(None)
    body = result.summaries[0].to_dict()
    assert "brightness" not in body
    body["brightness"] = {"mean": 1.0}
    with pytest.raises(Exception, match="brightness"):
        schema.validate_body("interval_summary", body)


def test_a_stage_may_only_close_the_sections_it_owns(toy_stage) -> None:
    class Rogue(BrightnessStage):
        name = "rogue"
        sections = ()

    register_stage(Rogue)
    try:
        with pytest.raises(RuntimeError, match="rogue.*does not own"):
            _run(STAGE_ORDER + ("rogue",))
    finally:
        STAGES._stages.pop("rogue", None)


def test_the_pipeline_is_the_list_of_stages_the_camera_asks_for() -> None:
    pipeline, _ = _run(None)
    assert [s.name for s in pipeline.stages] == [
        "detect",
        "road_classes",
        "track",
        "riders",
        "size_classes",
        "analytics",
        "loops",
        "modal_split",
    ]


def test_published_schema_and_schema_md_are_generated_from_the_registry() -> None:
    from importlib import resources

    published = resources.files("carbonedge.runtime.uplink").joinpath(
        "schemas", "interval_summary.v1.json").read_text(encoding="utf-8")  # fmt: skip
    assert published == schema.summary_schema_text(), (
        "stale: run carbonedge schema --write runtime/uplink"
    )
    doc = resources.files("carbonedge.runtime.uplink").joinpath("SCHEMA.md").read_text("utf-8")
    assert schema.sections_table() in doc, "stale: run the same --write"


def test_the_assembled_schema_equals_the_release_s_hand_written_one() -> None:
    import json
    from pathlib import Path

    before = Path(__file__).parents[1] / "uplink" / "interval_summary.v1.before-sections.json"
    assembled = schema.summary_schema()
    added_since = ("taxonomy", "modal_split", "light_profile")  # stages added after the redesign
    for name in added_since:
        assert assembled["properties"].pop(name)
    assert assembled == json.loads(before.read_text(encoding="utf-8"))


def test_the_schema_command_prints_and_writes(tmp_path, capsys) -> None:
    import shutil
    from importlib import resources

    from carbonedge.runtime import cli

    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == schema.summary_schema_text()
    uplink = resources.files("carbonedge.runtime.uplink")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "interval_summary.v1.json").write_text("{}\n")
    shutil.copy(str(uplink.joinpath("SCHEMA.md")), tmp_path / "SCHEMA.md")
    assert cli.main(["schema", "--write", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    written = (tmp_path / "schemas" / "interval_summary.v1.json").read_text()
    assert written == schema.summary_schema_text()
    assert cli.main(["schema", "--write", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "up to date"
