"""tests/conftest.py under pytest-xdist (``-n 2 --dist loadscope``, pyproject.toml): a ``serial``
test runs with no other test beside it, and a module with a module-scoped fixture stays on one
worker. A small inner suite runs with the real conftest in a child pytest; each probe test writes
when it started and ended and on which worker."""

from __future__ import annotations

import os

import pytest
from conftest import REPO_ROOT

pytest_plugins = ["pytester"]

PROBES = """
import os, time
import pytest

def _record(name, hold_s):
    t0 = time.monotonic()
    time.sleep(hold_s)
    with open(os.environ["PROBE_LOG"], "a") as fh:
        fh.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']} {t0} {time.monotonic()} "
                 f"{os.readlink('/proc/thread-self/ns/net')}\\n")

@pytest.mark.serial
@pytest.mark.parametrize("i", range(2))
def test_alone(i):
    _record(f"serial{i}", 0.6)

@pytest.mark.parametrize("i", range(6))
def test_side_by_side(i):
    _record(f"plain{i}", 0.3)
"""

GROUPED = """
import os, time
import pytest

@pytest.fixture(scope="module")
def built_once():
    return os.environ["PYTEST_XDIST_WORKER"]

@pytest.mark.parametrize("i", range(8))
def test_uses_it(built_once, i):
    t0 = time.monotonic()
    time.sleep(0.2)
    with open(os.environ["PROBE_LOG"], "a") as fh:
        fh.write(f"grouped{i} {os.environ['PYTEST_XDIST_WORKER']} {t0} {time.monotonic()} "
                 f"{os.readlink('/proc/thread-self/ns/net')}\\n")
"""


def test_serial_tests_run_alone_and_module_fixtures_stay_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    log = pytester.path / "probe.log"
    monkeypatch.setenv("PROBE_LOG", str(log))
    pytester.makeconftest((REPO_ROOT / "tests" / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    serial: alone\n    shared: ../shared\n")
    pytester.makepyfile(test_probes=PROBES, test_grouped=GROUPED)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadscope", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=16)
    rows = [line.split() for line in log.read_text().splitlines()]
    spans = {name: (worker, float(t0), float(t1)) for name, worker, t0, t1, _ in rows}
    assert {w for w, _, _ in spans.values()} == {"gw0", "gw1"}, spans  # two workers did run

    def overlap(a: str, b: str) -> bool:
        (wa, a0, a1), (wb, b0, b1) = spans[a], spans[b]
        return wa != wb and a0 < b1 and b0 < a1  # monotonic clocks agree between processes

    for name in ("serial0", "serial1"):
        beside = [other for other in spans if other != name and overlap(name, other)]
        assert beside == [], f"{name} ran beside {beside}"
    grouped_workers = {w for k, (w, _, _) in spans.items() if k.startswith("grouped")}
    assert len(grouped_workers) == 1, spans
    # as root, each worker has a loopback of its own: a port (9101, carbonedge run's default
    # health port) bound by a test on one worker is free on the other
    net = {worker: ns for _, worker, _, _, ns in rows}
    if os.geteuid() == 0:
        assert len(set(net.values())) == 2 and os.readlink("/proc/self/ns/net") not in net.values()
