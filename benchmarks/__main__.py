"""Run the benchmarks: ``python -m carbonedge.benchmarks`` (``carbonedge bench``).

First the headline (``headline.py``: our pipeline vs the peer's end to end, INT8, streams per box,
memory and start-up), then every ``bench_*`` module's kernel-vs-reference rows as one Markdown
table. ``--only NAME`` runs just the modules whose name contains NAME (``--only headline``: just
the headline); ``--json FILE`` also writes everything as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import carbonedge.benchmarks as pkg
from carbonedge.benchmarks._harness import Row, format_table
from carbonedge.runtime.cli import configure_process


def _kernel_rows(only: str, quick: bool, skip: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_") or only not in info.name or info.name in skip:
            continue
        module = importlib.import_module(f"carbonedge.benchmarks.{info.name}")
        rows.extend(module.run(quick=quick))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller cases")
    parser.add_argument(
        "--only", default="", help="run only bench modules whose name contains this"
    )
    parser.add_argument("--no-headline", action="store_true", help="kernel tables only")
    parser.add_argument(
        "--skip", action="append", default=[], help="leave out this bench module (repeatable)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    configure_process()
    out: dict[str, object] = {"headline": None, "kernels": []}
    headline = not args.no_headline and args.only in ("", "headline")
    if headline:
        from carbonedge.benchmarks import headline as hl

        result = hl.collect(hl.Settings.for_run(args.quick))
        out["headline"] = result
        if result is not None:
            sys.stdout.write("## Headline: carbonedge vs the peer pipeline\n\n")
            sys.stdout.write(hl.format_headline(result) + "\n\n")
            if args.only != "headline":
                sys.stdout.write("## Kernels\n\n")
            sys.stdout.flush()
    rows: list[Row] = []
    if args.only != "headline":
        # the headline already ran the end-to-end comparison: bench_e2e only on request
        skip = (*args.skip, *(("bench_e2e",) if headline else ()))
        rows = _kernel_rows(args.only, args.quick, skip)
        sys.stdout.write(
            f"machine: {platform.platform()}, {platform.processor() or platform.machine()}\n\n"
        )
        sys.stdout.write(format_table(rows) + "\n")
    if args.json is not None:
        out["kernels"] = [{**asdict(r), "speedup": r.speedup} for r in rows]
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
