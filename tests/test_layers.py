"""The package layers hold: no import cycle between carbonedge's packages, every import (module
level or inside a function) counted, read from the source with ``ast``.

``lint-imports`` (import-linter, the contract in pyproject.toml) checks the same layers in
``.ci/run``; this test also runs where import-linter is not installed and names the offending
imports.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "kernels", "vision", "devices", "calibration", "emissions", "benchmarks")
# the base layer is a package of its own for this purpose: everything may import it
BASE = "runtime.base"
# who may import whom (besides itself); anything else is a layer violation
ALLOWED = {
    "runtime.base": set(),
    "kernels": {"runtime.base"},
    "devices": {"runtime.base", "kernels"},
    "emissions": {"runtime.base", "kernels"},
    "calibration": {"runtime.base", "kernels"},
    "vision": {"runtime.base", "kernels", "calibration"},
    "runtime": {"runtime.base", "kernels", "devices", "emissions", "calibration", "vision"},
    "benchmarks": {"runtime.base", "kernels", "devices", "emissions", "calibration", "vision",
                   "runtime"},
}  # fmt: skip


def _package_of(dotted: str) -> str | None:
    """'carbonedge.runtime.base.types' -> 'runtime.base'; 'carbonedge.vision.x' -> 'vision'."""
    parts = dotted.split(".")
    if parts[0] != "carbonedge" or len(parts) < 2 or parts[1] not in PACKAGES:
        return None
    if parts[1:3] == ["runtime", "base"]:
        return BASE
    return parts[1]


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "carbonedge." + ".".join(parts)


def package_imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the importing modules, every import counted."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_of(path)
            src = _package_of(module)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    dst = _package_of(name)
                    if dst is not None and src is not None and dst != src:
                        edges[(src, dst)].append(module)
    return edges


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest node
                walk(nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_no_import_cycle_between_packages() -> None:
    cycles = _cycles(set(package_imports()))
    assert cycles == [], "import cycles between packages: " + "; ".join(
        " -> ".join(c) for c in cycles
    )


def test_every_import_follows_the_layers() -> None:
    bad = {
        f"{a} -> {b}": sorted(set(mods))
        for (a, b), mods in package_imports().items()
        if b not in ALLOWED[a]
    }
    assert bad == {}, f"imports across layers: {bad}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c", "a"]]
