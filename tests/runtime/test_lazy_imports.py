"""A traffic-only site and ``carbonedge --help`` do not import what they do not use (issue 8).

Each check runs in a fresh interpreter, so modules other tests imported do not hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
{code}
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(code=code)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(h for h in heavy if h in modules)


def test_help_loads_no_numpy_pydantic_or_kernels() -> None:
    code = (
        "from carbonedge.runtime import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass"
    )
    modules = _modules_after(code)
    assert "carbonedge.runtime.uplink.hj212.cli" in modules  # every command was registered
    assert "carbonedge.vision.fire.cli" in modules
    heavy = ("numpy", "cv2", "pydantic", "numba", "onnxruntime", "carbonedge.kernels")
    assert _loaded(modules, heavy) == []


@pytest.mark.parametrize(
    "code",
    [
        "import carbonedge.runtime.pipeline",
        "import carbonedge.runtime.config\n"
        "from carbonedge.emissions import EmissionsConfig\n"
        "from carbonedge.vision.fire import FireMonitorConfig",
    ],
    ids=["pipeline", "config-models"],
)
def test_pipeline_and_config_load_no_fire_emissions_or_numba(code: str) -> None:
    heavy = (
        "numba",
        "scipy",
        "carbonedge.vision.fire.monitor",
        "carbonedge.emissions.estimate",
        "carbonedge.runtime.traffic_emissions",
    )
    assert _loaded(_modules_after(code), heavy) == []


def test_lazy_names_still_resolve() -> None:
    code = (
        "from carbonedge.emissions import estimate_interval, fire_emissions, table_version\n"
        "from carbonedge.vision.fire import FireAlarm, FireMonitor\n"
        "from carbonedge.runtime.uplink.hj212.codec import crc16_hj212\n"
        "assert crc16_hj212(b'QN=1') == __import__('carbonedge.kernels.reference', "
        "fromlist=['x']).crc16_hj212(b'QN=1')"
    )
    modules = _modules_after(code)
    assert "carbonedge.emissions.estimate" in modules
    assert "carbonedge.vision.fire.monitor" in modules
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import carbonedge.emissions as emissions

        emissions.nope  # noqa: B018
