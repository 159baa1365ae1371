"""``carbonedge doctor``: what this box can run (compiled kernels, onnxruntime, models)."""

from __future__ import annotations

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
    out.write(f"\nmodel folders searched ({MODEL_DIR_ENV}, then the user cache):\n")
    for d in search_dirs():
        out.write(f"  {d}{'' if d.is_dir() else '  (missing)'}\n")
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


def main() -> int:
    return 0 if report(sys.stdout) else 1
