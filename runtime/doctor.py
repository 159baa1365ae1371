"""``carbonedge doctor``: what this box can run: compiled kernels, onnxruntime, every registered
source, sensor, detector and sink (``runtime/doctor_plugins.py``), and where models are looked for.

The exit status says whether every kernel is compiled (a plugin this box cannot use, such as
GStreamer missing from a pip OpenCV, is listed as ``no`` and does not fail the command).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import TextIO


def report(out: TextIO) -> bool:
    """Write the report; True when every kernel is compiled and loads."""
    import cv2
    import numba
    import numpy as np
    import onnxruntime as ort

    from carbonedge.kernels import kernel_status
    from carbonedge.runtime import __version__
    from carbonedge.vision.detectors.model_files import MODEL_DIR_ENV, found_models, search_dirs

    out.write(
        f"carbonedge {__version__} on Python {platform.python_version()} ({platform.machine()})\n"
    )
    out.write(
        f"numpy {np.__version__}, numba {numba.__version__}, opencv {cv2.__version__}, "
        f"onnxruntime {ort.__version__} (providers: {', '.join(ort.get_available_providers())})\n"
    )
    out.write(f"numba cache: {numba.config.CACHE_DIR or 'next to the sources'}\n")
    out.write("\nkernels:\n")
    status = kernel_status()
    all_ok = bool(status)
    for name, info in status.items():
        ok = info["status"] == "ok"
        all_ok &= ok
        out.write(
            f"  {'ok  ' if ok else 'FAIL'} {name:<24} {info['backend']:<14} {info['module']}"
            f"{'' if ok else '  ' + info['status']}\n"
        )
    _write_plugins(out)
    out.write(f"\nmodel folders searched, in this order ({MODEL_DIR_ENV}, then the user cache; "
              "a path with a folder in the config is used as given):\n")  # fmt: skip
    if MODEL_DIR_ENV not in os.environ:
        out.write(f"  ({MODEL_DIR_ENV} is not set)\n")
    for i, d in enumerate(search_dirs(), start=1):
        out.write(f"  {i}. {d}{'  (exists)' if d.is_dir() else '  (missing)'}\n")
    models = found_models()
    out.write(
        "models found:\n"
        if models
        else "models found: none (the demo still runs: motion detector)\n"
    )
    for name, path in models:
        out.write(f"  {name:<28} {path}\n")
    out.write(f"\n{'all kernels compiled' if all_ok else 'SOME KERNELS ARE NOT COMPILED'}\n")
    return all_ok


def _write_plugins(out: TextIO) -> None:
    """Every registered source, sensor, detector and sink: can it work on this machine?"""
    from carbonedge.runtime.doctor_plugins import plugin_statuses

    statuses = plugin_statuses()
    kinds = {"source": "frame sources", "sensor": "sensors", "detector": "detectors",
             "sink": "uplink sinks"}  # fmt: skip
    for kind, title in kinds.items():
        out.write(f"\n{title} (type: in a config):\n")
        for s in (s for s in statuses if s.kind == kind):
            out.write(f"  {s.level:<4} {s.name:<14} {s.detail}\n")


def main() -> int:
    return 0 if report(sys.stdout) else 1
