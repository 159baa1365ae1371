"""Shared test helpers: where ../shared is, and small factories.

Tests that need third-party models or footage from ../shared use the ``shared_dir`` fixture: outside
CI they skip with a clear reason when the folder is absent; in CI (``CI=true``) a missing ../shared
is an error, so a real-data test can never pass by skipping.

Keep fixtures and helpers here, not in a ``conftest.py`` of a subfolder: test modules import the
helpers with ``from conftest import ...``, and a second conftest module would shadow this one.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from carbonedge.runtime.base.types import Detections, Frame

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("CARBONEDGE_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_SHARED_FIXTURES = frozenset({"shared_dir", "model_dir", "with_model_dir", "source_tables"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs ../shared (through any of its fixtures) as ``shared``."""
    for item in items:
        if _SHARED_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


_MODULE_FIXTURE = re.compile(r"""scope\s*=\s*["'](module|class|package)["']""")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (the test extra)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadscope`` (pyproject.toml), refined: a module that defines a module- or
    class-scoped fixture (a whole run, a rig) goes to one worker, so that the fixture is built
    once; every other test goes on its own to whichever worker is free, as with ``--dist load``.
    (Whole modules would leave one worker alone with the last long module; ``xdist_group`` marks
    do not work with pytest 9: pytest-xdist 3.8 rewrites ``item._nodeid``, which pytest 9 no
    longer reads.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class ModuleFixturesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if _defines_module_fixture(root / path) else nodeid

    return ModuleFixturesTogether(config, log)


@functools.cache
def _defines_module_fixture(path: Path) -> bool:
    try:
        return _MODULE_FIXTURE.search(path.read_text(encoding="utf-8")) is not None
    except OSError:
        return False


class _WorkerLocks:
    """A readers-writer lock shared by the xdist workers of one run (two ``flock`` files): every
    test holds it shared; a ``serial`` test holds it alone, so it runs with no other test beside
    it (a test that measures CPU use or asserts both cores busy). The gate file stops a stream of
    shared holders from starving a waiting ``serial`` test."""

    def __init__(self, folder: Path) -> None:
        self.gate = open(folder / "carbonedge-tests.gate", "a")  # held for the whole session
        self.run = open(folder / "carbonedge-tests.run", "a")

    @contextmanager
    def hold(self, alone: bool) -> Iterator[None]:
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.run, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(self.gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self.run, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(self.gate, fcntl.LOCK_UN)


_worker_locks: _WorkerLocks | None = None
_private_loopback = False  # this xdist worker has a network namespace (a loopback) of its own


def _unshare_loopback() -> str:
    """Move this process (its main thread: tests, the threads and children they start) into a
    new network namespace with only its own loopback up: every rig, ``carbonedge run``'s health
    port (9101 by default) and any other port is then private to this worker. Returns why not
    ("" when done): it needs root (CAP_SYS_ADMIN)."""
    import ctypes
    import socket
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        return os.strerror(ctypes.get_errno())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # `ip link set lo up`
        ifreq = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, ifreq)[:18])[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))  # SIOCSIFFLAGS IFF_UP
    return ""


def pytest_configure(config: pytest.Config) -> None:
    """An xdist worker gets a loopback of its own, or else runs its tests alone (one at a
    time across workers), so that two tests never bind the same port at once."""
    global _private_loopback
    if getattr(config, "workerinput", None) is None:
        return
    why_not = _unshare_loopback()
    _private_loopback = not why_not
    if why_not:
        import warnings

        warnings.warn(f"no network namespace for this xdist worker ({why_not}): tests run one "
                      "at a time (use -n 0, or run as root)", stacklevel=1)  # fmt: skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, a test marked ``serial`` runs while no other worker runs a test."""
    global _worker_locks
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None:  # not an xdist worker: tests run one at a time anyway
        return (yield)
    if _worker_locks is None:  # xdist gives each worker <the run's basetemp>/<worker id>
        _worker_locks = _WorkerLocks(Path(item.config.option.basetemp).parent)
    alone = item.get_closest_marker("serial") is not None or not _private_loopback
    with _worker_locks.hold(alone=alone):
        return (yield)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "models").is_dir() or not (SHARED_DIR / "media").is_dir():
        message = f"../shared (models and media) not found at {SHARED_DIR}"
        if _in_ci():
            pytest.fail(f"{message}: CI must run with the real data")
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def source_tables() -> Path:
    """../shared/data/emissions (the published emission-factor tables the emissions tests check
    our transcription against): skip outside CI when absent, fail in CI."""
    path = SHARED_DIR / "data" / "emissions"
    if not (path / "eea2019_pc_lcv_mc_all.csv").is_file():
        message = f"source emission tables not found at {path}"
        if _in_ci():
            pytest.fail(f"{message}: CI must run with the real data")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def model_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture()
def with_model_dir(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARBONEDGE_MODEL_DIR", str(model_dir))
    return model_dir


def make_detections(xyxy, confidence=None, class_id=None, **kw) -> Detections:
    """Detections from (N, 4) boxes; ``confidence`` and ``class_id`` may be scalars or (N,)."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    n = len(xyxy)
    return Detections(
        xyxy,
        np.full(n, 0.9 if confidence is None else confidence, np.float32),
        np.full(n, 0 if class_id is None else class_id, np.int32),
        **kw,
    )


def make_frame(image=None, *, index: int = 0, fps: float = 25.0, source_id: str = "cam") -> Frame:
    image = np.zeros((240, 320, 3), np.uint8) if image is None else image
    return Frame(source_id, index, index / fps, 1_767_254_400.0 + index / fps, image, fps)


@pytest.fixture(scope="module")
def variant_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private XDG cache for a test module: model variants (``model_variants``) are written
    there, never in ~/.cache. Yields the cache folder."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("xdg-cache")
    mp.setenv("XDG_CACHE_HOME", str(cache))
    yield cache
    mp.undo()
