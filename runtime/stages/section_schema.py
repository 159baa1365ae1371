"""The JSON-Schema fragment of a summary section, kept next to its stage in ``sections/``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def section_schema(name: str) -> dict[str, Any]:
    """``sections/<name>.json`` of this package (the value of ``properties.<name>`` in the
    interval summary schema)."""
    path = resources.files("carbonedge.runtime.stages").joinpath("sections", f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))
