"""``carbonedge config migrate OLD.yaml > NEW.yaml``: a site file in the ``cameras:`` form."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_MIGRATE_HELP = (
    "print a site config in the old form (sources: plus lines:/zones:/ground_planes:/... keyed by "
    "source id) in the cameras: form, as YAML on stdout; comments are not carried over, and "
    "${VAR} references are kept as they are (check the result with 'carbonedge check NEW.yaml')"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="site config tools (migrate an old-form file, key reference)")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    migrate = config_sub.add_parser(
        "migrate", help="print OLD.yaml in the cameras: form (comments are lost)",
        description=_MIGRATE_HELP,
    )  # fmt: skip
    migrate.add_argument("config", type=Path, help="the site YAML in the old form")
    migrate.set_defaults(handler=_cmd_migrate)
    reference = config_sub.add_parser(
        "reference", help="print (or --write) the reference of every site config key",
        description="Markdown reference of every site config key (type, default, unit, "
                    "description, example), generated from the pydantic models",
    )  # fmt: skip
    reference.add_argument(
        "--write", type=Path, default=None, metavar="FILE",
        help="write to FILE (docs/config-reference.md) instead of stdout",
    )  # fmt: skip
    reference.set_defaults(handler=_cmd_reference)


def _cmd_reference(args: argparse.Namespace) -> int:
    from carbonedge.runtime.config_reference import cmd_reference  # loads pydantic: not at --help

    return cmd_reference(args)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.config import read_yaml
    from carbonedge.runtime.config_legacy import convert_legacy, dump_yaml, is_legacy

    data = read_yaml(args.config)
    if not isinstance(data, dict):
        raise ConfigError(f"{args.config}: expected a mapping of settings at the top level")
    if is_legacy(data):
        try:
            data = convert_legacy(data)
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from None
        header = f"migrated from {args.config} by 'carbonedge config migrate' (comments dropped)"
    else:
        sys.stderr.write(f"{args.config}: already in the cameras: form; printed unchanged\n")
        header = ""
    sys.stdout.write(dump_yaml(data, header=header))
    return 0
