"""``carbonedge hj212 ...``: check packets, run a test platform, talk to a platform.

Each subcommand lives in the module next to the code it drives; that module has
``register(subparsers)``, which adds its parser and sets ``handler=fn(args) -> int``. Keep heavy
imports inside the handler so ``carbonedge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "carbonedge.runtime.uplink.hj212.check",
    "carbonedge.runtime.uplink.hj212.platform",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hj212", help="HJ 212 packets: check one, run a test platform")
    hj_sub = p.add_subparsers(dest="hj212_command", required=True, metavar="ACTION")
    for module_name in _SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(hj_sub)
