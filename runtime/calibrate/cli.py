"""``carbonedge calibrate ...``: everything a technician does to commission a camera or sensor.

Each subcommand lives in the module next to the code it drives; that module has
``register(subparsers)``, which adds its parser and sets ``handler=fn(args) -> int``. Keep heavy
imports inside the handler so ``carbonedge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "carbonedge.runtime.calibrate.fit_cli",
    "carbonedge.runtime.calibrate.sensor_cli",
    "carbonedge.runtime.calibrate.web.server",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit, check and record camera and sensor calibration")
    calibrate_sub = p.add_subparsers(dest="calibrate_command", required=True, metavar="ACTION")
    for module_name in _SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(calibrate_sub)
