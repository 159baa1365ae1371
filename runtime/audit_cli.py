"""``carbonedge audit``: run recorded input through the analytics and score it against ground truth.

``carbonedge audit fire PATH ...`` scores the fire/smoke detector on an image sequence or stills;
``carbonedge audit traffic CLIP --truth FILE.yaml`` (also ``carbonedge audit CLIP --truth ...``)
scores counts and speeds on a clip. Each target registers its own sub-parser.
"""

from __future__ import annotations

import argparse

_TARGET_MODULES: tuple[str, ...] = ()


def register(sub: argparse._SubParsersAction) -> None:
    import importlib

    audit = sub.add_parser("audit", help="score analytics on recorded input against ground truth")
    targets = audit.add_subparsers(dest="audit_target", required=True, metavar="TARGET")
    for module_name in _TARGET_MODULES:
        importlib.import_module(module_name).register_audit(targets)
