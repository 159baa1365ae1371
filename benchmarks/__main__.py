"""Run every benchmark module and print one Markdown table: ``python -m carbonedge.benchmarks``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys

import carbonedge.benchmarks as pkg
from carbonedge.benchmarks._harness import Row, format_table
from carbonedge.runtime.cli import configure_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller cases")
    parser.add_argument(
        "--only", default="", help="run only bench modules whose name contains this"
    )
    args = parser.parse_args(argv)
    configure_process()
    rows: list[Row] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_") or args.only not in info.name:
            continue
        module = importlib.import_module(f"carbonedge.benchmarks.{info.name}")
        rows.extend(module.run(quick=args.quick))
    sys.stdout.write(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}\n\n"
    )
    sys.stdout.write(format_table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
