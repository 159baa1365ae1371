"""``docs/config-reference.md`` is generated from the pydantic models and kept current."""

from __future__ import annotations

import re
from typing import Literal

from conftest import REPO_ROOT
from pydantic import BaseModel, Field

from carbonedge.runtime.cli import main as cli_main
from carbonedge.runtime.config import INHERITED, read_yaml
from carbonedge.runtime.config_reference import collect, render, undescribed, unit_of

DOC = REPO_ROOT / "docs" / "config-reference.md"


def test_committed_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(collect()), (
        "docs/config-reference.md is stale: run "
        "'carbonedge config reference --write docs/config-reference.md'"
    )


def test_every_key_has_a_description() -> None:
    assert undescribed(collect()) == []


def test_cli_prints_the_same_text(capsys) -> None:
    assert cli_main(["config", "reference"]) == 0
    assert capsys.readouterr().out == DOC.read_text(encoding="utf-8")


class _Inner(BaseModel):
    type: Literal["toy"] = "toy"
    gap_px: float = Field(3.0, ge=0)  # no description: reported


class _Toy(BaseModel):
    timeout_s: float = Field(5.0, gt=0, description="how long to wait")
    name: str = Field(description="what it is called")
    inner: _Inner = _Inner()
    items: list[_Inner] = Field(default_factory=list, description="more of them")


def test_a_key_without_description_is_found_and_rows_are_complete() -> None:
    sections = collect(_Toy)
    assert [s.path for s in sections] == ["", "inner", "items[]"]
    assert undescribed(sections) == ["inner", "inner.gap_px", "items[].gap_px"]
    top = {k.name: k for k in sections[0].keys}
    assert (top["timeout_s"].type_text, top["timeout_s"].default, top["timeout_s"].unit) == (
        "number", "`5.0`", "seconds")  # fmt: skip
    assert top["name"].default == "*required*"
    assert sections[1].note == "type: toy"
    text = render(sections)
    assert "| `timeout_s` | number | `5.0` | seconds | how long to wait | `5.0` |" in text


def test_units_come_from_the_names() -> None:
    cases = {"timeout_s": "seconds", "start_px": "pixels", "outbox_max_mb": "MiB",
             "max_speed_kmh": "km/h", "world_m": "metres", "heading_deg": "degrees",
             "device_id": ""}  # fmt: skip
    assert {name: unit_of(name) for name in cases} == cases


def test_every_key_of_the_example_configs_is_in_the_reference() -> None:
    """The keys the shipped examples use, as ``cameras.<id>.lines[].start_px`` paths."""
    documented = set()
    for s in collect():
        for k in s.keys:
            documented.add(f"{s.path}.{k.name}" if s.path else k.name)
    used = set()

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if path == "cameras":
                    child = "cameras.<id>"
                else:
                    used.add(child)
                walk(item, child)
        elif isinstance(value, list):
            for item in value:
                walk(item, path + "[]")

    sites = [read_yaml(p) for p in sorted((REPO_ROOT / "runtime/examples").glob("*.yaml"))]
    sites = [site for site in sites if isinstance(site, dict) and "cameras" in site]
    assert len(sites) >= 3
    for site in sites:
        walk(site, "")
    inherited = "|".join(INHERITED)
    used = {re.sub(rf"^cameras\.<id>\.({inherited})\b", r"\1", p) for p in used}
    missing = sorted(p for p in used if re.sub(r"\.<key>.*", "", p) not in documented
                     and not p.startswith(("emissions.fleet.", "hj212.codes.")))  # fmt: skip
    assert missing == []
