"""ONNX Runtime session options reach the opened session (spin-wait setting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_factory import colour_grid_v8

from carbonedge.vision.detectors.onnx_session import SessionConfig, open_session
from carbonedge.vision.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector

_SPIN_KEY = "session.intra_op.allow_spinning"


@pytest.mark.parametrize(("allow", "entry"), [(True, "1"), (False, "0")])
def test_allow_spinning_reaches_the_session(tmp_path: Path, allow: bool, entry: str) -> None:
    model = colour_grid_v8(tmp_path / "colour_grid.onnx")
    session = open_session(model, SessionConfig(allow_spinning=allow))
    assert session.get_session_options().get_session_config_entry(_SPIN_KEY) == entry


def test_allow_spinning_defaults_on_and_flows_through_a_detector_config(tmp_path: Path) -> None:
    assert SessionConfig().allow_spinning is True
    model = colour_grid_v8(tmp_path / "colour_grid.onnx")
    det = UltralyticsDetector(
        UltralyticsConfig.model_validate(
            {"model": str(model), "classes": None, "session": {"allow_spinning": False}}
        )
    )
    assert det.session.get_session_options().get_session_config_entry(_SPIN_KEY) == "0"


def test_allow_spinning_rejects_a_non_boolean() -> None:
    with pytest.raises(ValueError, match="allow_spinning"):
        SessionConfig.model_validate({"allow_spinning": "sometimes"})
