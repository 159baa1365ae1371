"""No silent fallback: a kernel whose compiled module is missing is reported and raises on use."""

from __future__ import annotations

import io

import pytest

import carbonedge.kernels as kernels
from carbonedge.runtime import doctor
from carbonedge.runtime.base.errors import KernelError


def test_every_kernel_loads() -> None:
    status = kernels.kernel_status()
    assert len(status) >= 10
    assert all(info["status"] == "ok" for info in status.values()), status


def test_missing_compiled_module_is_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kernels._KERNEL_MODULES, "fake_kernel", ("cython", "_does_not_exist"))
    status = kernels.kernel_status()["fake_kernel"]
    assert status["status"].startswith("ModuleNotFoundError")
    with pytest.raises(KernelError, match=r"carbonedge.kernels._does_not_exist is not available"):
        kernels._require("_does_not_exist")
    out = io.StringIO()
    assert doctor.report(out) is False
    assert "FAIL fake_kernel" in out.getvalue()
    assert "SOME KERNELS ARE NOT COMPILED" in out.getvalue()
