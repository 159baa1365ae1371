from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from carbonedge.devices.sources.base import SOURCES
from carbonedge.runtime.base.plugins import Registry
from carbonedge.vision.detectors.base import DETECTORS


class AConfig(BaseModel):
    type: Literal["a"] = "a"
    x: int = 1


class BConfig(BaseModel):
    type: Literal["b"] = "b"


def test_register_and_create() -> None:
    reg: Registry[BaseModel, object] = Registry("thing")

    @reg.register("a", AConfig)
    class A:
        def __init__(self, config: AConfig, extra: str = "") -> None:
            self.config, self.extra = config, extra

    built = reg.create(AConfig(x=5), extra="e")
    assert isinstance(built, A) and built.config.x == 5 and built.extra == "e"
    assert reg.names() == ("a",) and reg.config_classes() == (AConfig,)
    with pytest.raises(TypeError, match="no thing registered for config BConfig"):
        reg.create(BConfig())
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", AConfig)(type("Other", (), {}))


def test_builtin_plugins_are_registered() -> None:
    import carbonedge.devices.sources  # noqa: F401
    import carbonedge.vision.detectors  # noqa: F401

    assert set(DETECTORS.names()) >= {"yolox", "ultralytics", "motion"}
    assert set(SOURCES.names()) >= {"video_file", "synthetic"}
